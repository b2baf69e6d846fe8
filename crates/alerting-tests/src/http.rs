//! POSTs and queries to loopback Prometheus and Alertmanager, over testkit's HTTP client.

use std::time::Duration;

/// Status and body of a response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// Sends `method url` with `body` of `content_type` and reads the whole reply.
pub fn request(method: &str, url: &str, content_type: &str, body: &[u8]) -> Result<Reply, String> {
    testkit::http::request(
        method,
        url,
        &[("Content-Type", content_type)],
        body,
        Duration::from_secs(30),
    )
    .map(|r| Reply {
        status: r.status,
        body: r.body,
    })
}

/// POSTs a JSON document.
pub fn post_json(url: &str, body: &serde_json::Value) -> Result<Reply, String> {
    request("POST", url, "application/json", body.to_string().as_bytes())
}

/// POSTs a form (`application/x-www-form-urlencoded`).
pub fn post_form(url: &str, fields: &[(&str, &str)]) -> Result<Reply, String> {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    request(
        "POST",
        url,
        "application/x-www-form-urlencoded",
        body.as_bytes(),
    )
}

/// Percent-encodes everything but unreserved characters.
pub fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Runs an instant query against Prometheus' HTTP API; returns the `data.result` array, or the
/// error Prometheus gave (a parse error is `bad_data` with a 400).
pub fn prometheus_query(base: &str, query: &str) -> Result<Vec<serde_json::Value>, String> {
    let reply = post_form(&format!("{base}/api/v1/query"), &[("query", query)])?;
    let json: serde_json::Value = serde_json::from_str(&reply.body)
        .map_err(|e| format!("reply to {query:?} is not JSON ({e}): {}", reply.body))?;
    if reply.status != 200 || json["status"] != "success" {
        return Err(format!(
            "{} {}: {}",
            reply.status,
            json["errorType"].as_str().unwrap_or("?"),
            json["error"].as_str().unwrap_or(&reply.body)
        ));
    }
    Ok(json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encode_escapes_promql() {
        assert_eq!(
            form_encode(r#"up{job="a b"} > 0"#),
            "up%7Bjob%3D%22a%20b%22%7D%20%3E%200"
        );
        assert_eq!(form_encode("a-z_0.9~"), "a-z_0.9~");
    }
}
