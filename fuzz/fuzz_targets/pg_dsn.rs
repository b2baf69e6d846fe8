//! pg-exporter's data source names in both forms (URI `postgresql://user:pass@host/db?k=v` and
//! libpq `key=value`, plus the bare `host:port/db`), as they come from `DATA_SOURCE_NAME`,
//! `DATA_SOURCE_URI`, the config file and `/probe?target=`. Properties: nothing panics, and a
//! parsed DSN shows its password nowhere: its `Display` and `Debug` are those of the same DSN
//! without a password, but for the `:******` marker.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pg_exporter::dsn::{self, Dsn};

fn check(dsn: &Dsn) {
    let _ = dsn.fingerprint();
    let _ = dsn.to_config(Duration::from_secs(1));
    if dsn.password.is_none() {
        return;
    }
    let without = Dsn {
        password: None,
        ..dsn.clone()
    };
    let shown = dsn.to_string();
    assert_eq!(
        shown.replacen(":******@", "@", 1),
        without.to_string(),
        "the password changes more than its marker"
    );
    assert_eq!(format!("{dsn:?}"), format!("Dsn({shown})"));
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for piece in dsn::split_list(text) {
        if let Ok(parsed) = Dsn::parse(piece) {
            check(&parsed);
        }
    }
    for parsed in [dsn::parse_uri(text), dsn::parse_key_value(text)]
        .into_iter()
        .flatten()
    {
        check(&parsed);
    }
});
