//! `node_filefd_allocated` and `node_filefd_maximum` from `/proc/sys/fs/file-nr`.

use metrics_core::MetricSet;

use super::{read, CollectorError, Host};

/// `(allocated, maximum)`: the first and third numbers.
pub fn parse(text: &str) -> Result<(f64, f64), String> {
    let v: Vec<f64> = text
        .split_ascii_whitespace()
        .map(|s| s.parse::<f64>().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    match v.as_slice() {
        [allocated, _, maximum] => Ok((*allocated, *maximum)),
        _ => Err(format!("expected 3 numbers, got {}", v.len())),
    }
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let path = ctx.proc("sys/fs/file-nr");
    let (allocated, maximum) =
        parse(&read(&path)?).map_err(|why| CollectorError::parse(&path, why))?;
    out.gauge(
        "node_filefd_allocated",
        "File descriptor statistics: allocated.",
        &[],
        allocated,
    );
    out.gauge(
        "node_filefd_maximum",
        "File descriptor statistics: maximum.",
        &[],
        maximum,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn parses_file_nr() {
        let (a, m) = parse(&fixtures::read("proc/sys/fs/file-nr")).unwrap();
        assert!(a > 0.0 && m > a);
        assert!(parse("1 2").is_err());
    }
}
