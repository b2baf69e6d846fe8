//! The page and its scripts, styles and the vendored Chart.js, compiled into the binary.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use metrics_core::server::{get_or_head, read_only};

/// One embedded file.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

pub const ASSETS: [Asset; 5] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../assets/index.html"),
    },
    Asset {
        path: "/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/app.js"),
    },
    Asset {
        path: "/assets/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/style.css"),
    },
    Asset {
        path: "/assets/chart.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/vendor/chart.min.js"),
    },
    Asset {
        path: "/assets/chart.js-LICENSE",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../assets/vendor/chart.js-LICENSE"),
    },
];

/// Everything from this origin only: no inline script, no third-party host.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Registers every asset (GET and HEAD; other methods 405).
pub fn configure(cfg: &mut web::ServiceConfig) {
    for asset in &ASSETS {
        let (content_type, body) = (asset.content_type, asset.body);
        cfg.service(read_only(
            asset.path,
            get_or_head().to(move || async move { serve(content_type, body) }),
        ));
    }
}

fn serve(content_type: &'static str, body: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        // The binary is the version: a new image brings new assets, so revalidate each load.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body)
}
