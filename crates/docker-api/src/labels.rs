//! Which container labels are served. Labels carry secrets in real deployments (a reverse
//! proxy's basic-auth hash, a token), so only keys on the allow-list (`api.allowed_labels`)
//! are kept: others are dropped when the daemon's answer is read, before anything is stored,
//! and from peers' answers in cluster mode, so no endpoint, stream or merge can show them.

use std::collections::BTreeMap;

/// The default allow-list: what Compose and Swarm put on their containers to name them.
pub const DEFAULT_ALLOWED: [&str; 4] = [
    "com.docker.compose.*",
    "com.docker.stack.*",
    "com.docker.swarm.service.name",
    "com.docker.swarm.task.name",
];

/// An allow-list of label keys: exact keys, `prefix*` for every key starting with `prefix`,
/// and `*` for every key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelPolicy {
    patterns: Vec<String>,
}

impl Default for LabelPolicy {
    fn default() -> Self {
        Self::new(DEFAULT_ALLOWED.iter().map(|p| (*p).to_string()).collect())
    }
}

impl LabelPolicy {
    pub fn new(patterns: Vec<String>) -> Self {
        Self { patterns }
    }

    /// Whether `key` may be served.
    pub fn allows(&self, key: &str) -> bool {
        self.patterns
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => key.starts_with(prefix),
                None => key == pattern,
            })
    }

    /// The allowed labels of `labels`.
    pub fn keep(
        &self,
        labels: impl IntoIterator<Item = (String, String)>,
    ) -> BTreeMap<String, String> {
        labels.into_iter().filter(|(k, _)| self.allows(k)).collect()
    }

    /// Drops the labels that are not allowed, in place.
    pub fn strip(&self, labels: &mut BTreeMap<String, String>) {
        labels.retain(|k, _| self.allows(k));
    }
}

/// A pattern is a label key (Docker's: no spaces or control characters), optionally ending
/// in `*`; a `*` anywhere else is refused rather than silently matched literally.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    if body.contains('*') {
        return Err(format!("{pattern:?}: `*` is allowed only at the end"));
    }
    if pattern.is_empty() || pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{pattern:?} is not a label key or key prefix"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_allows_compose_and_stack_names_only() {
        let policy = LabelPolicy::default();
        for key in [
            "com.docker.compose.project",
            "com.docker.compose.service",
            "com.docker.stack.namespace",
            "com.docker.swarm.service.name",
            "com.docker.swarm.task.name",
        ] {
            assert!(policy.allows(key), "{key}");
        }
        for key in [
            "traefik.http.middlewares.auth.basicauth.users",
            "com.docker.swarm.service.id",
            "com.docker.composer",
            "com.docker.compose",
            "",
        ] {
            assert!(!policy.allows(key), "{key}");
        }
    }

    #[test]
    fn exact_keys_prefixes_and_everything() {
        let policy = LabelPolicy::new(vec!["team".into(), "app.*".into()]);
        let labels = [
            ("team", "a"),
            ("teams", "b"),
            ("app.name", "c"),
            ("secret", "d"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let kept = policy.keep(labels);
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["app.name", "team"]);
        assert!(LabelPolicy::new(vec!["*".into()]).allows("anything"));
        assert!(!LabelPolicy::new(Vec::new()).allows("team"));
    }

    #[test]
    fn patterns_with_inner_stars_or_spaces_are_refused() {
        assert!(check_pattern("com.docker.*").is_ok());
        assert!(check_pattern("*").is_ok());
        assert!(check_pattern("a*b").is_err());
        assert!(check_pattern("a b").is_err());
        assert!(check_pattern("").is_err());
    }
}
