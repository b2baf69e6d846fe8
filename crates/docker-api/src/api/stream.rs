//! `/api/stats/stream`: the Server-Sent Events stream.

use std::time::Duration;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use futures_util::stream;
use tokio::sync::{broadcast, OwnedSemaphorePermit};

use super::errors::error;
use super::Api;
use crate::model::ErrorBody;

/// Server-Sent Events: `event: stats` once per interval with the aggregate (the same body as
/// `/api/stats/aggregate`), `event: container` when a container starts, stops or changes health,
/// and a comment line as heartbeat. A slow client skips samples.
#[utoipa::path(get, path = "/api/stats/stream", tag = "stats",
    responses(
        (status = 200, description = "An endless text/event-stream", content_type = "text/event-stream", body = String),
        (status = 503, description = "Too many stream clients", body = ErrorBody),
    ))]
pub(super) async fn stats_stream(api: web::Data<Api>) -> HttpResponse {
    let Ok(permit) = api.stream_clients.clone().try_acquire_owned() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many event-stream clients".into(),
        );
    };
    let rx = api.published.stream.subscribe();
    let first = api
        .published
        .snapshot()
        .map(|s| crate::sampler::sse_frame("stats", &s.aggregate_json));
    let first = first.unwrap_or_else(|| Bytes::from_static(b": waiting for the first sample\n\n"));
    let body = event_stream(rx, api.heartbeat, first, Some(permit));
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Compression would hold events back until a buffer fills.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

struct StreamState {
    rx: broadcast::Receiver<Bytes>,
    heartbeat: tokio::time::Interval,
    first: Option<Bytes>,
    _permit: Option<OwnedSemaphorePermit>,
}

/// One client's stream: `first`, then every frame published, with a heartbeat comment whenever
/// `heartbeat` passes. The channel holds a few frames: a client that reads slower than they are
/// published loses the oldest ones (skips samples); nothing grows per client. The permit (the
/// cap on stream clients) is released when the client goes.
fn event_stream(
    rx: broadcast::Receiver<Bytes>,
    heartbeat: Duration,
    first: Bytes,
    permit: Option<OwnedSemaphorePermit>,
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> {
    let mut ticker = tokio::time::interval(heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.reset();
    let state = StreamState {
        rx,
        heartbeat: ticker,
        first: Some(first),
        _permit: permit,
    };
    stream::unfold(state, |mut st| async move {
        if let Some(first) = st.first.take() {
            return Some((Ok::<_, actix_web::Error>(first), st));
        }
        loop {
            tokio::select! {
                msg = st.rx.recv() => match msg {
                    Ok(frame) => return Some((Ok(frame), st)),
                    // Fell behind: the oldest frames are gone; go on with what is left.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = st.heartbeat.tick() => {
                    return Some((Ok(Bytes::from_static(b": heartbeat\n\n")), st))
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slow_stream_client_skips_frames_instead_of_buffering() {
        use futures_util::StreamExt;
        let (tx, rx) = broadcast::channel(4);
        let mut stream = Box::pin(event_stream(
            rx,
            Duration::from_secs(3600),
            Bytes::from_static(b"first"),
            None,
        ));
        // The client reads nothing while 20 frames are published.
        for i in 0..20 {
            tx.send(Bytes::from(format!("f{i}"))).unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(stream.next().await.unwrap().unwrap());
        }
        assert_eq!(got, ["first", "f16", "f17", "f18", "f19"]);
        drop(tx);
        assert!(
            stream.next().await.is_none(),
            "the stream ends with the sampler"
        );
    }

    #[tokio::test]
    async fn an_idle_stream_sends_heartbeats() {
        use futures_util::StreamExt;
        let (_tx, rx) = broadcast::channel::<Bytes>(4);
        let mut stream = Box::pin(event_stream(
            rx,
            Duration::from_millis(50),
            Bytes::from_static(b"first"),
            None,
        ));
        assert_eq!(stream.next().await.unwrap().unwrap(), "first");
        assert_eq!(stream.next().await.unwrap().unwrap(), ": heartbeat\n\n");
    }
}
