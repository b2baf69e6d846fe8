//! Small pure parsers shared by the cgroup and proc readers.

/// Why a file's text could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub(crate) fn new(what: &str, text: &str) -> Self {
        let shown: String = text.chars().take(80).collect();
        ParseError(format!("cannot parse {what} from {shown:?}"))
    }
}

/// A file holding one unsigned number.
pub fn parse_u64(text: &str) -> Result<u64, ParseError> {
    text.trim()
        .parse()
        .map_err(|_| ParseError::new("a number", text))
}

/// A limit file: `max` (v2) or a value at or above 2^62 (v1's "unlimited", 9223372036854771712,
/// rounded down to the page size) means no limit. cAdvisor treats the same threshold as unlimited.
pub fn parse_limit(text: &str) -> Result<Option<u64>, ParseError> {
    let t = text.trim();
    if t == "max" {
        return Ok(None);
    }
    let v = parse_u64(t)?;
    Ok((v < 1 << 62).then_some(v))
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `memory.events`); lines that do not parse are
/// skipped, since kernels add keys over time.
pub fn keyed(text: &str) -> impl Iterator<Item = (&str, u64)> {
    text.lines().filter_map(|line| {
        let mut parts = line.split_ascii_whitespace();
        let key = parts.next()?;
        let value = parts.next()?.parse().ok()?;
        Some((key, value))
    })
}

/// Counts the non-empty lines of a file such as `cgroup.procs` or `tasks`.
pub fn count_lines(text: &str) -> u64 {
    text.lines().filter(|l| !l.trim().is_empty()).count() as u64
}

/// The pids listed in `cgroup.procs`, one a line.
pub fn parse_pids(text: &str) -> Vec<u32> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// `MAJ:MIN` device numbers.
pub fn parse_device(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The first `cpu` line of `/proc/stat` as the docker daemon reads it: user, nice, system, idle,
/// iowait, irq and softirq ticks added up (steal and guest are left out, as dockerd does), plus
/// the number of `cpuN` lines (dockerd's online CPUs). The sum saturates rather than overflow.
pub fn parse_proc_stat_cpu(text: &str) -> Result<(u64, u32), ParseError> {
    let mut total = None;
    let mut cpus = 0u32;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            if total.is_some() {
                break;
            }
            continue;
        };
        if rest.starts_with(' ') {
            let ticks: Option<Vec<u64>> = rest
                .split_ascii_whitespace()
                .take(7)
                .map(|f| f.parse().ok())
                .collect();
            match ticks {
                Some(t) if t.len() == 7 => {
                    total = Some(t.iter().fold(0u64, |sum, v| sum.saturating_add(*v)))
                }
                _ => return Err(ParseError::new("the cpu line of /proc/stat", line)),
            }
        } else if rest.starts_with(|c: char| c.is_ascii_digit()) {
            cpus = cpus.saturating_add(1);
        }
    }
    match total {
        Some(t) => Ok((t, cpus)),
        None => Err(ParseError::new("/proc/stat", text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_unlimited_and_v2_max_are_no_limit() {
        assert_eq!(parse_limit("9223372036854771712\n"), Ok(None));
        assert_eq!(parse_limit("max\n"), Ok(None));
        assert_eq!(parse_limit("67108864\n"), Ok(Some(67_108_864)));
        assert!(parse_limit("lots").is_err());
    }

    #[test]
    fn keyed_skips_lines_it_cannot_read() {
        let pairs: Vec<_> = keyed("a 1\nbroken\nb x\nc 3\n").collect();
        assert_eq!(pairs, vec![("a", 1), ("c", 3)]);
    }

    #[test]
    fn proc_stat_from_this_host() {
        let text = include_str!("../tests/fixtures/proc/stat");
        let (ticks, cpus) = parse_proc_stat_cpu(text).unwrap();
        let first = text.lines().next().unwrap();
        let expected: u64 = first
            .split_whitespace()
            .skip(1)
            .take(7)
            .map(|f| f.parse::<u64>().unwrap())
            .sum();
        assert_eq!(ticks, expected);
        assert_eq!(
            cpus as usize,
            text.lines()
                .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
                .count()
        );
        assert!(cpus >= 1);
    }

    #[test]
    fn device_numbers() {
        assert_eq!(parse_device("254:0"), Some((254, 0)));
        assert_eq!(parse_device("Total"), None);
    }

    /// Input the container_proc fuzz target found: the seven tick counts overflowed their sum.
    #[test]
    fn proc_stat_cpu_sum_saturates() {
        let text = "cpu  18446744073709551615 1 0 0 0 0 0 0 0 0\ncpu0 1 1 1 1 1 1 1\n";
        assert_eq!(parse_proc_stat_cpu(text), Ok((u64::MAX, 1)));
    }
}
