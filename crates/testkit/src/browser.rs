//! Headless Chromium over WebDriver (chromedriver on a free port, driven with fantoccini), for
//! tests that open the dashboard's page: the dashboard's own browser tests and vm-e2e's check
//! of the page against the cgroup v2 guest. Behind the `browser` feature: fantoccini is heavy
//! and most crates that use testkit never open a page.

use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

use crate::{free_port, require_command, ServiceProcess};

/// chromedriver on a free port, with a headless Chromium session at `width` x `height`.
pub struct Browser {
    pub client: Client,
    _driver: ServiceProcess,
}

impl Browser {
    pub async fn start(width: u32, height: u32) -> Self {
        Self::start_with(width, height, None).await
    }

    /// A phone: Chromium's own device emulation (headless windows are at least 500 px wide).
    pub async fn phone(width: u32, height: u32) -> Self {
        let metrics = json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "touch": true}});
        Self::start_with(width.max(500), height, Some(metrics)).await
    }

    async fn start_with(width: u32, height: u32, mobile: Option<Value>) -> Self {
        let driver = require_command("chromedriver", "chromium-driver");
        let chromium = require_command("chromium", "chromium");
        let port = free_port();
        let driver = ServiceProcess::start(driver, &[format!("--port={port}")], port);
        let mut options = json!({
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                format!("--window-size={width},{height}"),
            ],
        });
        if let Some(mobile) = mobile {
            options["mobileEmulation"] = mobile;
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("start a Chromium session through chromedriver");
        Self {
            client,
            _driver: driver,
        }
    }

    /// Runs `script` (a function body; `arguments[0..]` are `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs `script` every 200 ms until it returns something other than null or false; panics
    /// naming `what` (and the last value and page errors) after `limit`.
    pub async fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        script: &str,
        args: Vec<Value>,
    ) -> Value {
        let start = Instant::now();
        loop {
            let value = self.js(script, args.clone()).await;
            if !value.is_null() && value != Value::Bool(false) {
                return value;
            }
            if start.elapsed() > limit {
                let errors = self
                    .js("return window.clustermon ? window.clustermon.state.errors : 'app.js did not run'", vec![])
                    .await;
                let table = self
                    .js("const t = document.querySelector('#container-table tbody'); return t ? t.innerText.slice(0, 3000) : null;", vec![])
                    .await;
                panic!(
                    "{what}: not seen within {limit:?} (last value {value}); page errors: {errors}; table:\n{}",
                    table.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// The text of a cell (`data-col`) in the row of container `name`, or null while absent.
pub const CELL: &str = "const tr = document.querySelector('#container-table tbody tr[data-name=\"' + arguments[0] + '\"]'); \
     if (!tr) return null; const td = tr.querySelector('td[data-col=\"' + arguments[1] + '\"]'); \
     return td ? td.textContent : null;";
