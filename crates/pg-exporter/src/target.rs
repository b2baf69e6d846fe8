//! One PostgreSQL server (or one database of it) and its long-lived connection: opened on the
//! first scrape, reused by every later one, reopened with backoff when it breaks. Connection
//! state changes are logged once, not on every scrape.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls, SimpleQueryMessage, SimpleQueryRow};

use crate::dsn::Dsn;
use crate::files;
use crate::tls::{RustlsConnect, Verify};
use crate::version::Version;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A server we scrape, with its connection.
pub struct Target {
    pub dsn: Dsn,
    /// The `server` label (`host:port`).
    pub server: String,
    connect_timeout: Duration,
    statement_timeout: Duration,
    /// None for `sslmode=disable`.
    verify: Option<Verify>,
    /// `sslrootcert`, read (capped, off the async workers) when first connecting.
    root_cert: Option<PathBuf>,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    live: Option<Session>,
    /// No new attempt before this instant (backoff after a failure).
    retry_at: Option<Instant>,
    backoff: Duration,
    /// The last failure, repeated to scrapes that fall inside the backoff window.
    last_error: Option<String>,
    /// Whether the last outcome was logged as "up" (None before the first attempt).
    logged_up: Option<bool>,
    /// The TLS setup, once built.
    tls: Option<RustlsConnect>,
}

/// A usable connection and what we learnt about the server when opening it.
#[derive(Clone)]
pub struct Session {
    pub client: Arc<Client>,
    pub version: Version,
    /// `SELECT version()`, for `pg_static`.
    pub version_string: Arc<str>,
    /// The settings collector's last output and the `pg_conf_load_time()` it was read at.
    pub settings_cache: Arc<std::sync::Mutex<Option<(String, metrics_core::MetricSet)>>>,
}

impl Session {
    /// Runs one statement with the simple query protocol (one round trip, text values).
    pub async fn rows(&self, sql: &str) -> Result<Vec<SimpleQueryRow>, tokio_postgres::Error> {
        let messages = self.client.simple_query(sql).await?;
        Ok(messages
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(row),
                _ => None,
            })
            .collect())
    }
}

impl Target {
    pub fn new(dsn: Dsn, connect_timeout: Duration, statement_timeout: Duration) -> Self {
        let verify = match dsn.param("sslmode").unwrap_or("prefer") {
            "disable" => None,
            "verify-ca" => Some(Verify::Chain),
            "verify-full" => Some(Verify::ChainAndName),
            _ => Some(Verify::Nothing),
        };
        let root_cert = dsn.param("sslrootcert").map(PathBuf::from);
        Self {
            server: dsn.fingerprint(),
            dsn,
            connect_timeout,
            statement_timeout,
            verify,
            root_cert,
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    /// The open connection, or a new one when there is none and the backoff allows a try within
    /// `budget`. The error is a one-line reason without secrets.
    pub async fn session(&self, budget: Duration) -> Result<Session, String> {
        let mut state = self.state.lock().await;
        if let Some(live) = &state.live {
            if !live.client.is_closed() {
                return Ok(live.clone());
            }
            // Reconnect below; only the outcome of that is logged.
            state.live = None;
        }
        if let Some(at) = state.retry_at {
            if Instant::now() < at {
                return Err(state
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "not connected".into()));
            }
        }
        let limit = budget.min(self.connect_timeout);
        let outcome = match tokio::time::timeout(limit, self.connect(&mut state)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:.1}s", limit.as_secs_f64())),
        };
        match outcome {
            Ok(session) => {
                if state.logged_up != Some(true) {
                    tracing::info!(
                        server = %self.server,
                        dsn = %self.dsn,
                        version = %session.version,
                        "connected to PostgreSQL"
                    );
                }
                state.logged_up = Some(true);
                state.retry_at = None;
                state.backoff = Duration::ZERO;
                state.last_error = None;
                state.live = Some(session.clone());
                Ok(session)
            }
            Err(reason) => {
                state.backoff = state
                    .backoff
                    .saturating_mul(2)
                    .clamp(FIRST_BACKOFF, MAX_BACKOFF);
                state.retry_at = Some(Instant::now() + state.backoff);
                self.log_down(&mut state, reason.clone());
                Err(reason)
            }
        }
    }

    /// Whether the connection is open (for `/health`; never connects).
    pub async fn is_up(&self) -> bool {
        let state = self.state.lock().await;
        state.live.as_ref().is_some_and(|l| !l.client.is_closed())
    }

    /// Forgets a connection that failed under a scrape, so the next one reconnects.
    pub async fn discard_if_closed(&self) -> bool {
        let mut state = self.state.lock().await;
        let closed = state.live.as_ref().is_some_and(|l| l.client.is_closed());
        if closed {
            state.live = None;
            // Retry at once on the next scrape; if that fails, the reason is logged there.
            state.retry_at = None;
            tracing::debug!(server = %self.server, "the connection closed during a scrape");
        }
        closed
    }

    fn log_down(&self, state: &mut State, reason: String) {
        let changed = state.logged_up != Some(false) || state.last_error.as_ref() != Some(&reason);
        if changed {
            tracing::warn!(
                server = %self.server,
                dsn = %self.dsn,
                error = %reason,
                "PostgreSQL is unreachable; pg_up is 0 until it answers again"
            );
        } else {
            tracing::debug!(server = %self.server, error = %reason, "PostgreSQL still unreachable");
        }
        state.logged_up = Some(false);
        state.last_error = Some(reason);
    }

    /// The TLS setup for this server (None without TLS), built on the first connection.
    async fn tls(&self, state: &mut State) -> Result<Option<RustlsConnect>, String> {
        let Some(verify) = self.verify else {
            return Ok(None);
        };
        if let Some(tls) = &state.tls {
            return Ok(Some(tls.clone()));
        }
        let root = match (&self.root_cert, verify) {
            (Some(path), Verify::Chain | Verify::ChainAndName) => Some(
                files::read_off_thread(path.clone(), files::MAX_CERT_FILE)
                    .await
                    .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?,
            ),
            _ => None,
        };
        let tls = RustlsConnect::new(verify, root.as_deref())?;
        state.tls = Some(tls.clone());
        Ok(Some(tls))
    }

    async fn connect(&self, state: &mut State) -> Result<Session, String> {
        let config = self
            .dsn
            .to_config(self.connect_timeout)
            .map_err(|e| e.to_string())?;
        let server = self.server.clone();
        let client = match self.tls(state).await? {
            None => {
                let (client, connection) = config.connect(NoTls).await.map_err(|e| describe(&e))?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(server = %server, error = %describe(&e), "connection ended");
                    }
                });
                client
            }
            Some(tls) => {
                let (client, connection) = config.connect(tls).await.map_err(|e| describe(&e))?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(server = %server, error = %describe(&e), "connection ended");
                    }
                });
                client
            }
        };
        // SET (not a startup option) so that pg_settings' reset_val still shows the server's own
        // statement_timeout, which the settings collector reports.
        // PostgreSQL takes at most i32::MAX ms (about 24 days).
        let setup = format!(
            "SET statement_timeout = {}; SET TimeZone = 'UTC'",
            self.statement_timeout
                .as_millis()
                .clamp(1, i32::MAX.unsigned_abs().into())
        );
        client
            .batch_execute(&setup)
            .await
            .map_err(|e| describe(&e))?;
        let messages = client
            .simple_query("SELECT version(), current_setting('server_version_num')")
            .await
            .map_err(|e| describe(&e))?;
        let row = messages
            .iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(row),
                _ => None,
            })
            .ok_or("the server did not report its version")?;
        let version_string: Arc<str> = row.get(0).unwrap_or_default().into();
        let version = row
            .get(1)
            .and_then(|n| n.parse::<u32>().ok())
            .map(Version::from_num)
            .ok_or("the server reported an unreadable version")?;
        Ok(Session {
            client: Arc::new(client),
            version,
            version_string,
            settings_cache: Arc::default(),
        })
    }
}

/// One line for logs and errors: the server's message for database errors, the cause chain
/// otherwise. tokio-postgres never puts the password in either.
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
