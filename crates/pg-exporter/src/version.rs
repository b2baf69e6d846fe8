//! Server versions, and the version ranges of postgres_exporter's query files (`pg_version:
//! ">=10.0.0 <13.0.0"`, `||` between alternatives).

use std::fmt;

/// A PostgreSQL version as `major.minor.patch` (PostgreSQL 15.4 is `15.4.0`; 9.6.3 is `9.6.3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// From `server_version_num` (`150004`, `90603`).
    pub fn from_num(num: u32) -> Self {
        if num >= 100_000 {
            Version(num / 10_000, num % 10_000, 0)
        } else {
            Version(num / 10_000, (num / 100) % 100, num % 100)
        }
    }

    /// `short_version` of `pg_static`: the version the way upstream prints it (`15.18.0`).
    pub fn short(&self) -> String {
        self.to_string()
    }

    pub fn at_least(&self, major: u32) -> bool {
        self.0 >= major
    }

    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next().unwrap_or(Some(0))?;
        let patch = parts.next().unwrap_or(Some(0))?;
        Some(Version(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// A version range: alternatives (`||`) of conjunctions of comparisons.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRange {
    alternatives: Vec<Vec<(Op, Version)>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl VersionRange {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut alternatives = Vec::new();
        for alt in text.split("||") {
            let mut all = Vec::new();
            for cmp in alt.split_whitespace() {
                let (op, rest) = [
                    (">=", Op::Ge),
                    ("<=", Op::Le),
                    ("!=", Op::Ne),
                    ("==", Op::Eq),
                    (">", Op::Gt),
                    ("<", Op::Lt),
                    ("=", Op::Eq),
                ]
                .iter()
                .find_map(|(p, op)| cmp.strip_prefix(p).map(|r| (*op, r)))
                .unwrap_or((Op::Eq, cmp));
                let version = Version::parse(rest)
                    .ok_or_else(|| format!("invalid version {rest:?} in range {text:?}"))?;
                all.push((op, version));
            }
            if all.is_empty() {
                return Err(format!("empty version range {text:?}"));
            }
            alternatives.push(all);
        }
        Ok(Self { alternatives })
    }

    pub fn contains(&self, v: Version) -> bool {
        self.alternatives.iter().any(|all| {
            all.iter().all(|(op, bound)| match op {
                Op::Lt => v < *bound,
                Op::Le => v <= *bound,
                Op::Gt => v > *bound,
                Op::Ge => v >= *bound,
                Op::Eq => v == *bound,
                Op::Ne => v != *bound,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_before_and_after_ten() {
        assert_eq!(Version::from_num(150018), Version(15, 18, 0));
        assert_eq!(Version::from_num(90603), Version(9, 6, 3));
        assert_eq!(Version::from_num(170000).short(), "17.0.0");
    }

    #[test]
    fn ranges_with_and_and_or() {
        let r = VersionRange::parse(">=9.2.0 <10.0.0 || >=13").unwrap();
        assert!(r.contains(Version(9, 6, 3)));
        assert!(!r.contains(Version(10, 0, 0)));
        assert!(r.contains(Version(15, 4, 0)));
        assert!(VersionRange::parse(">=ten").is_err());
        assert!(VersionRange::parse("").is_err());
    }
}
