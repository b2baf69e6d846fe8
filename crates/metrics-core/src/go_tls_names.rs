//! Go's names for TLS 1.2 cipher suites and key-exchange groups, as a web configuration file
//! writes them, mapped to rustls' (ring) implementations. Apart from [`crate::tls`] so that the
//! file's validation ([`crate::web_config`]) and the TLS setup that reads the file need not import
//! each other.

use rustls::crypto::SupportedKxGroup;
use rustls::SupportedCipherSuite;

/// A TLS 1.2 cipher suite by its Go name (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`); Go, too,
/// configures only the TLS 1.2 suites.
pub fn cipher_suite(name: &str) -> Option<SupportedCipherSuite> {
    use rustls::crypto::ring::cipher_suite as cs;
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

/// A key-exchange group by its Go name (`CurveP256`, `CurveP384`, `X25519`). P-521 has no
/// implementation in rustls' ring provider and is refused with a message saying so.
pub fn curve(name: &str) -> Option<&'static dyn SupportedKxGroup> {
    use rustls::crypto::ring::kx_group;
    match name {
        "CurveP256" | "P256" => Some(kx_group::SECP256R1),
        "CurveP384" | "P384" => Some(kx_group::SECP384R1),
        "X25519" => Some(kx_group::X25519),
        _ => None,
    }
}
