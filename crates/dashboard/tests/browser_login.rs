//! Logging in through the login page in headless Chromium (WebDriver, Debian's `chromium` and
//! `chromium-driver`), against the real docker-api and Docker engine: the page sends a browser
//! without a session to the form, a wrong password is refused there, the right one opens the
//! dashboard with live data, the session cookie is invisible to scripts (HttpOnly), and logging
//! out sends the browser back to the form.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{start_dashboard, start_docker_api, Browser, CELL};
use fantoccini::Locator;
use serde_json::json;
use testkit::docker::{require_docker, Container};
use testkit::free_port;

const PASSWORD: &str = "browser-login-pw";

async fn type_and_submit(browser: &Browser, user: &str, password: &str) {
    let c = &browser.client;
    c.find(Locator::Id("user"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn path_is(browser: &Browser, path: &str) {
    browser
        .wait_for(
            &format!("the browser at {path}"),
            Duration::from_secs(10),
            "return location.pathname === arguments[0];",
            vec![json!(path)],
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_logs_in_through_the_page_and_out_again() {
    require_docker();
    let running = Container::run(&[], "sleep 300");
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let web_config = dir.path().join("web.yml");
    std::fs::write(
        &web_config,
        format!("basic_auth_users:\n  admin: '{hash}'\n"),
    )
    .unwrap();
    let port = free_port();
    let _docker_api = start_docker_api(port);
    let flag = format!("--web.config.file={}", web_config.display());
    let dashboard = start_dashboard(&format!("http://127.0.0.1:{port}"), &[&flag]);
    let browser = Browser::start(1280, 900).await;
    let c = &browser.client;

    c.goto(&dashboard.url("/")).await.unwrap();
    path_is(&browser, "/login").await;
    type_and_submit(&browser, "admin", "wrong").await;
    browser
        .wait_for(
            "the refusal on the form",
            Duration::from_secs(10),
            "const m = document.querySelector('.message'); return m && m.textContent.includes('Wrong user name or password');",
            vec![],
        )
        .await;

    type_and_submit(&browser, "admin", PASSWORD).await;
    path_is(&browser, "/").await;
    // Live data arrives with the session: the running container's row reads "running".
    browser
        .wait_for(
            "the running container in the table",
            Duration::from_secs(20),
            &format!("const text = (function() {{ {CELL} }}).apply(null, arguments); return text === 'running';"),
            vec![json!(running.name), json!("state")],
        )
        .await;
    let visible = browser.js("return document.cookie;", vec![]).await;
    assert!(
        !visible
            .as_str()
            .unwrap_or_default()
            .contains("clustermon_session"),
        "the session cookie is readable by scripts: {visible}"
    );
    let cookie = c.get_named_cookie("clustermon_session").await.unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");

    c.goto(&dashboard.url("/logout")).await.unwrap();
    path_is(&browser, "/login").await;
    c.goto(&dashboard.url("/")).await.unwrap();
    path_is(&browser, "/login").await;
    browser.close().await;
}
