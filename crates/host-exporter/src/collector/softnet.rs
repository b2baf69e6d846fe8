//! `node_softnet_*{cpu}` from `/proc/net/softnet_stat`: one line per CPU, hexadecimal columns
//! whose number grew with the kernel (9 before 2.6.39, 11 up to 5.9, 13 since 5.10 and 15 on
//! recent kernels).

use metrics_core::MetricSet;

use super::{read, CollectorError, Host};

/// One CPU's line. Columns the running kernel does not print are `None` and not exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SoftnetRow {
    /// The CPU: the kernel's own index (column 13) when it prints one, else the line number
    /// (older kernels skip offline CPUs' lines without saying so).
    pub cpu: u32,
    pub processed: u32,
    pub dropped: u32,
    pub times_squeezed: u32,
    /// Column 9; always 0 since Linux 4.x removed the lock it counted, still printed.
    pub cpu_collision: u32,
    pub received_rps: Option<u32>,
    pub flow_limit_count: Option<u32>,
    /// Packets waiting in this CPU's input and process queues (Linux 5.10+).
    pub backlog_len: Option<u32>,
}

/// The kernel has printed at least the first nine columns since 2.6.23.
const MIN_COLUMNS: usize = 9;

fn hex(field: &str) -> Result<u32, String> {
    u32::from_str_radix(field, 16).map_err(|e| format!("{field:?}: {e}"))
}

fn parse_line(line: &str, line_number: usize) -> Result<SoftnetRow, String> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    if fields.len() < MIN_COLUMNS {
        return Err(format!(
            "{} columns, at least {MIN_COLUMNS} expected: {line:?}",
            fields.len()
        ));
    }
    let column = |i: usize| fields.get(i).map(|f| hex(f)).transpose();
    let line_cpu = u32::try_from(line_number).map_err(|e| e.to_string())?;
    // The backlog length and the CPU index came together (Linux 5.10).
    let (backlog_len, cpu) = match (column(11)?, column(12)?) {
        (Some(backlog), Some(cpu)) => (Some(backlog), cpu),
        _ => (None, line_cpu),
    };
    Ok(SoftnetRow {
        cpu,
        processed: hex(fields[0])?,
        dropped: hex(fields[1])?,
        times_squeezed: hex(fields[2])?,
        cpu_collision: hex(fields[8])?,
        received_rps: column(9)?,
        flow_limit_count: column(10)?,
        backlog_len,
    })
}

pub fn parse(text: &str) -> Result<Vec<SoftnetRow>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, line)| parse_line(line, n))
        .collect()
}

pub fn collect(ctx: &Host, out: &mut MetricSet) -> Result<(), CollectorError> {
    let path = ctx.proc("net/softnet_stat");
    let rows = parse(&read(&path)?).map_err(|why| CollectorError::parse(&path, why))?;
    for row in rows {
        emit(out, &row);
    }
    Ok(())
}

fn emit(out: &mut MetricSet, row: &SoftnetRow) {
    let cpu = row.cpu.to_string();
    let l = [("cpu", cpu.as_str())];
    let counters = [
        (
            "node_softnet_processed_total",
            "Number of processed packets.",
            Some(row.processed),
        ),
        (
            "node_softnet_dropped_total",
            "Number of dropped packets.",
            Some(row.dropped),
        ),
        (
            "node_softnet_times_squeezed_total",
            "Number of times processing packets ran out of quota.",
            Some(row.times_squeezed),
        ),
        (
            "node_softnet_cpu_collision_total",
            "Number of collisions while taking the device lock to transmit.",
            Some(row.cpu_collision),
        ),
        (
            "node_softnet_received_rps_total",
            "Number of times this CPU was woken up to process packets steered to it (RPS).",
            row.received_rps,
        ),
        (
            "node_softnet_flow_limit_count_total",
            "Number of times the flow limit was reached.",
            row.flow_limit_count,
        ),
    ];
    for (name, help, value) in counters {
        if let Some(v) = value {
            out.counter(name, help, &l, f64::from(v));
        }
    }
    if let Some(backlog) = row.backlog_len {
        out.gauge(
            "node_softnet_backlog_len",
            "Packets in this CPU's softnet backlog queues.",
            &l,
            f64::from(backlog),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fixtures;

    #[test]
    fn parses_a_real_softnet_stat() {
        let rows = parse(&fixtures::read("proc/net/softnet_stat")).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].cpu, 1);
        assert_eq!(rows[1].backlog_len, Some(0));
    }

    #[test]
    fn cpu_comes_from_the_kernels_index_column_not_the_line() {
        // CPU 1 offline: the kernel prints CPUs 0 and 2, and says so in column 13.
        let text = "0000000e 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000003 00000004 00000005 00000006 00000000 00000002 00000004\n\
                    0000000f 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000000 00000000\n";
        let rows = parse(text).unwrap();
        assert_eq!(
            rows[0],
            SoftnetRow {
                cpu: 0,
                processed: 14,
                dropped: 1,
                times_squeezed: 2,
                cpu_collision: 3,
                received_rps: Some(4),
                flow_limit_count: Some(5),
                backlog_len: Some(6),
            }
        );
        assert_eq!(rows[1].cpu, 2);
    }

    #[test]
    fn older_kernels_number_cpus_by_line_and_lack_the_newer_columns() {
        let eleven = "0000000e 00000001 00000002 0 0 0 0 0 00000003 00000004 00000005\n\
                      0000000f 0 0 0 0 0 0 0 0 0 0\n";
        let rows = parse(eleven).unwrap();
        assert_eq!((rows[1].cpu, rows[0].flow_limit_count), (1, Some(5)));
        assert_eq!(rows[0].backlog_len, None);
        let nine = parse("0000000e 00000001 00000002 0 0 0 0 0 00000003\n").unwrap();
        assert_eq!((nine[0].received_rps, nine[0].cpu_collision), (None, 3));
        assert!(parse("0000000e 00000001 00000002\n").is_err());
        assert!(parse("0000000e 00000001 zz 0 0 0 0 0 0\n").is_err());
    }

    #[test]
    fn exports_only_the_columns_the_kernel_prints() {
        let mut set = MetricSet::new();
        for row in
            parse("0000000e 00000001 00000002 0 0 0 0 0 00000003 00000004 00000005\n").unwrap()
        {
            emit(&mut set, &row);
        }
        let cpu0 = [("cpu", "0")];
        assert_eq!(
            set.value("node_softnet_flow_limit_count_total", &cpu0),
            Some(5.0)
        );
        assert_eq!(
            set.value("node_softnet_cpu_collision_total", &cpu0),
            Some(3.0)
        );
        assert!(!set.contains("node_softnet_backlog_len"));
    }
}
