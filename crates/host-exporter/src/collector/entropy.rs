//! `node_entropy_available_bits` and `node_entropy_pool_size_bits`.

use metrics_core::MetricSet;

use super::{read, CollectorError, Host};

fn number(ctx: &Host, rel: &str) -> Result<f64, CollectorError> {
    let path = ctx.proc(rel);
    read(&path)?
        .trim()
        .parse()
        .map_err(|e| CollectorError::parse(&path, e))
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let available = number(ctx, "sys/kernel/random/entropy_avail")?;
    let pool = number(ctx, "sys/kernel/random/poolsize")?;
    out.gauge(
        "node_entropy_available_bits",
        "Bits of available entropy.",
        &[],
        available,
    );
    out.gauge(
        "node_entropy_pool_size_bits",
        "Bits of entropy pool.",
        &[],
        pool,
    );
    Ok(())
}
