//! metrics-core's reading of Prometheus' `X-Prometheus-Scrape-Timeout-Seconds` header, which
//! every scrape of every service sends. Properties: nothing panics; the timeout never exceeds
//! the configured one, nor the scraper's (to the nanosecond) when the header holds a usable
//! number.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use metrics_core::server::scrape_timeout_from_header;

fuzz_target!(|data: &[u8]| {
    // The configured timeout (humantime from the config: any Duration) from the first 12 bytes.
    let (configured, header) = match data.split_first_chunk::<12>() {
        Some((head, rest)) => {
            let (secs, nanos) = head.split_at(8);
            let secs = u64::from_ne_bytes(secs.try_into().unwrap_or_default());
            let nanos = u32::from_ne_bytes(nanos.try_into().unwrap_or_default());
            (Duration::new(secs, nanos % 1_000_000_000), rest)
        }
        None => (Duration::from_secs(10), data),
    };
    // actix hands the handler only values that are visible ASCII (HeaderValue::to_str).
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    let got = scrape_timeout_from_header(Some(header), configured);
    assert!(got <= configured, "{header:?}: {got:?} > {configured:?}");
    if let Ok(theirs) = header.trim().parse::<f64>() {
        if theirs.is_finite() && theirs > 0.0 && theirs < 1e15 {
            // Duration rounds to the nearest nanosecond.
            assert!(got.as_secs_f64() <= theirs + 1e-9, "{header:?}: {got:?}");
        }
    }
    assert_eq!(scrape_timeout_from_header(None, configured), configured);
});
