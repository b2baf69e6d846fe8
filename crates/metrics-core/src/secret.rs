//! Keeping secrets out of text: URLs and connection strings are shown without their userinfo in
//! logs, response bodies and `/health`.

/// `url` with any `user:password@` (or `user@`) removed: `redis://:pw@host:6379/0` becomes
/// `redis://host:6379/0`. A string without a scheme is treated as `[userinfo@]host...`.
///
/// Userinfo is everything up to the last `@` ahead of the query or fragment, so a password
/// holding `/`, `@`, `,` or a space (not percent-encoded) is still removed whole; a `?` or `#`
/// in a password must be percent-encoded, as URL syntax requires. A path holding `@` is cut
/// too: showing less is the safe side.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let before_query = rest.find(['?', '#']).unwrap_or(rest.len());
    match rest[..before_query].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_removed() {
        assert_eq!(
            redact_url("redis://:s3cret@redis:6379/0"),
            "redis://redis:6379/0"
        );
        assert_eq!(
            redact_url("http://admin:pw@docker-api:3001/api"),
            "http://docker-api:3001/api"
        );
        assert_eq!(
            redact_url("postgresql://u:p@h/db?sslmode=disable"),
            "postgresql://h/db?sslmode=disable"
        );
        assert_eq!(redact_url("user:pw@host:5432"), "host:5432");
    }

    #[test]
    fn passwords_with_separators_do_not_survive() {
        for pw in ["a/b", "a@b", "a,b", "a b", "a%2Fb", "a:b"] {
            let url = format!("redis://user:{pw}@redis:6379");
            let shown = redact_url(&url);
            assert!(!shown.contains(pw), "{pw:?} survived in {shown:?}");
            assert!(shown.ends_with("redis:6379"), "{shown:?}");
        }
    }

    #[test]
    fn urls_without_userinfo_are_unchanged() {
        for url in [
            "http://127.0.0.1:3001/api/x?a=b@c",
            "unix:///var/run/docker.sock",
            "host:1",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }
}
