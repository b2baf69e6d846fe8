//! `node_timex_*`: the kernel clock discipline state from a read-only `adjtimex` call.

use metrics_core::MetricSet;

use super::{CollectorError, Host};

const STA_NANO: i64 = 0x2000;
const TIME_ERROR: i32 = 5;
/// `freq`, `ppsfreq` and `stabil` are in ppm with a 16-bit fraction.
const PPM16: f64 = 65536.0 * 1_000_000.0;

/// The fields of `struct timex` node_exporter reads, widened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClockState {
    pub state: i32,
    pub offset: i64,
    pub freq: i64,
    pub maxerror: i64,
    pub esterror: i64,
    pub status: i64,
    pub constant: i64,
    pub tick: i64,
    pub ppsfreq: i64,
    pub jitter: i64,
    pub shift: i64,
    pub stabil: i64,
    pub jitcnt: i64,
    pub calcnt: i64,
    pub errcnt: i64,
    pub stbcnt: i64,
    pub tai: i64,
}

// `c_long` is 32 bits on some targets, so the casts are needed there.
#[allow(clippy::unnecessary_cast)]
fn read_clock() -> Result<ClockState, CollectorError> {
    // A zeroed timex (modes = 0) is a query that changes nothing.
    let mut timex = rtime_clock::adjtime::Timex::new();
    let state =
        rtime_clock::adjtime::adjtimex(&mut timex).map_err(|source| CollectorError::Io {
            what: "adjtimex".into(),
            source,
        })?;
    let t = &timex.0;
    Ok(ClockState {
        state,
        offset: t.offset as i64,
        freq: t.freq as i64,
        maxerror: t.maxerror as i64,
        esterror: t.esterror as i64,
        status: i64::from(t.status),
        constant: t.constant as i64,
        tick: t.tick as i64,
        ppsfreq: t.ppsfreq as i64,
        jitter: t.jitter as i64,
        shift: i64::from(t.shift),
        stabil: t.stabil as i64,
        jitcnt: t.jitcnt as i64,
        calcnt: t.calcnt as i64,
        errcnt: t.errcnt as i64,
        stbcnt: t.stbcnt as i64,
        tai: i64::from(t.tai),
    })
}

/// Turns the clock state into node_exporter's families and units.
pub fn families(c: &ClockState, out: &mut MetricSet) {
    // offset and jitter are in ns when STA_NANO is set, µs otherwise.
    let divisor = if c.status & STA_NANO != 0 { 1e9 } else { 1e6 };
    let g = |out: &mut MetricSet, name: &str, help: &str, v: f64| out.gauge(name, help, &[], v);
    let k = |out: &mut MetricSet, name: &str, help: &str, v: i64| {
        out.counter(name, help, &[], v as f64)
    };
    g(
        out,
        "node_timex_sync_status",
        "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
        if c.state == TIME_ERROR { 0.0 } else { 1.0 },
    );
    g(
        out,
        "node_timex_offset_seconds",
        "Time offset in between local system and reference clock.",
        c.offset as f64 / divisor,
    );
    g(
        out,
        "node_timex_frequency_adjustment_ratio",
        "Local clock frequency adjustment.",
        1.0 + c.freq as f64 / PPM16,
    );
    g(
        out,
        "node_timex_maxerror_seconds",
        "Maximum error in seconds.",
        c.maxerror as f64 / 1e6,
    );
    g(
        out,
        "node_timex_estimated_error_seconds",
        "Estimated error in seconds.",
        c.esterror as f64 / 1e6,
    );
    g(
        out,
        "node_timex_status",
        "Value of the status array bits.",
        c.status as f64,
    );
    g(
        out,
        "node_timex_loop_time_constant",
        "Phase-locked loop time constant.",
        c.constant as f64,
    );
    g(
        out,
        "node_timex_tick_seconds",
        "Seconds between clock ticks.",
        c.tick as f64 / 1e6,
    );
    g(
        out,
        "node_timex_pps_frequency_hertz",
        "Pulse per second frequency.",
        c.ppsfreq as f64 / PPM16,
    );
    g(
        out,
        "node_timex_pps_jitter_seconds",
        "Pulse per second jitter.",
        c.jitter as f64 / divisor,
    );
    g(
        out,
        "node_timex_pps_shift_seconds",
        "Pulse per second interval duration.",
        c.shift as f64,
    );
    g(
        out,
        "node_timex_pps_stability_hertz",
        "Pulse per second stability, average of recent frequency changes.",
        c.stabil as f64 / PPM16,
    );
    k(
        out,
        "node_timex_pps_jitter_total",
        "Pulse per second count of jitter limit exceeded events.",
        c.jitcnt,
    );
    k(
        out,
        "node_timex_pps_calibration_total",
        "Pulse per second count of calibration intervals.",
        c.calcnt,
    );
    k(
        out,
        "node_timex_pps_error_total",
        "Pulse per second count of calibration errors.",
        c.errcnt,
    );
    k(
        out,
        "node_timex_pps_stability_exceeded_total",
        "Pulse per second count of stability limit exceeded events.",
        c.stbcnt,
    );
    g(
        out,
        "node_timex_tai_offset_seconds",
        "International Atomic Time (TAI) offset.",
        c.tai as f64,
    );
}

pub fn collect(_ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    families(&read_clock()?, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynchronised_clock_reports_like_node_exporter() {
        let c = ClockState {
            state: TIME_ERROR,
            maxerror: 16_000_000,
            esterror: 16_000_000,
            status: 64,
            constant: 2,
            tick: 10_000,
            ..ClockState::default()
        };
        let mut set = MetricSet::new();
        families(&c, &mut set);
        let v = |n: &str| set.value(n, &[]).unwrap();
        assert_eq!(v("node_timex_sync_status"), 0.0);
        assert_eq!(v("node_timex_maxerror_seconds"), 16.0);
        assert_eq!(v("node_timex_tick_seconds"), 0.01);
        assert_eq!(v("node_timex_frequency_adjustment_ratio"), 1.0);
    }

    #[test]
    fn the_live_clock_can_be_read() {
        let c = read_clock().unwrap();
        assert!(c.tick > 0);
    }
}
