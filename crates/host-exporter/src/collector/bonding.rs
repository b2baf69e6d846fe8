//! `node_bonding_slaves{master}` and `node_bonding_active{master}` from `/sys/class/net`.

use metrics_core::MetricSet;

use super::{read, read_attr, CollectorError, Host};

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let net = ctx.sys("class/net");
    let masters_path = net.join("bonding_masters");
    let masters = match read(&masters_path) {
        Ok(m) => m,
        Err(CollectorError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Err(CollectorError::NoData(
                "no bonding interfaces (bonding module not loaded)".into(),
            ))
        }
        Err(e) => return Err(e),
    };
    for master in masters.split_ascii_whitespace() {
        let slaves = read_attr(&net.join(master).join("bonding/slaves")).unwrap_or_default();
        let (mut total, mut active) = (0.0, 0.0);
        for slave in slaves.split_ascii_whitespace() {
            total += 1.0;
            let state = read_attr(
                &net.join(master)
                    .join(format!("lower_{slave}/bonding_slave/mii_status")),
            )
            .or_else(|| read_attr(&net.join(slave).join("bonding_slave/mii_status")));
            if state.as_deref() == Some("up") {
                active += 1.0;
            }
        }
        let l = [("master", master)];
        out.gauge(
            "node_bonding_slaves",
            "Number of configured slaves per bonding interface.",
            &l,
            total,
        );
        out.gauge(
            "node_bonding_active",
            "Number of active slaves per bonding interface.",
            &l,
            active,
        );
    }
    Ok(())
}
