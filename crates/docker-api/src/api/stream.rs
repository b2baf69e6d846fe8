//! `/api/stats/stream`: the Server-Sent Events stream, and the limits that keep clients that
//! stop reading from holding anything for long: a cap on clients in total and per remote
//! address, a bounded channel to each client, and a write deadline.

use std::time::Duration;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use tokio::sync::{broadcast, mpsc, OwnedSemaphorePermit};

use super::errors::error;
use super::Api;
use crate::model::ErrorBody;

/// Frames waiting for one client beyond the one being written: a client that stops reading
/// leaves at most this many here (the write deadline then ends it).
const CLIENT_QUEUE: usize = 1;

/// Server-Sent Events: `event: stats` once per interval with the aggregate (the same body as
/// `/api/stats/aggregate`), `event: container` when a container starts, stops or changes health,
/// and a comment line as heartbeat. A slow client skips samples; one that takes nothing for the
/// write deadline is dropped.
#[utoipa::path(get, path = "/api/stats/stream", tag = "stats",
    responses(
        (status = 200, description = "An endless text/event-stream", content_type = "text/event-stream", body = String),
        (status = 429, description = "Too many stream clients from this address", body = ErrorBody),
        (status = 503, description = "Too many stream clients", body = ErrorBody),
    ))]
pub(super) async fn stats_stream(req: HttpRequest, api: web::Data<Api>) -> HttpResponse {
    let address = req.peer_addr().map(|a| a.ip());
    let Some(address_slot) = api.stream_addresses.try_acquire(address) else {
        metrics_core::refused::count("stream_clients_per_address");
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many event-stream clients from this address".into(),
        );
    };
    let Ok(permit) = api.stream_clients.clone().try_acquire_owned() else {
        metrics_core::refused::count("stream_clients");
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
    let pacing = Pacing {
        heartbeat: api.heartbeat,
        write_deadline: api.stream_write_deadline,
    };
    let body = event_stream(rx, pacing, first, Some(permit), Some(address_slot));
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Compression would hold events back until a buffer fills.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// How often a client hears from the stream, and how long it may leave a frame untaken.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    pub heartbeat: Duration,
    pub write_deadline: Duration,
}

/// One client's stream: `first`, then every frame published, with a heartbeat comment whenever
/// `heartbeat` passes. A feeder task moves frames from the shared channel into a channel of
/// [`CLIENT_QUEUE`] frames that the response body drains as the server writes. A client that
/// reads slower than frames are published skips the oldest ones; one that has not taken a
/// frame for `write_deadline` (its socket and the server's write buffer are full) is dropped:
/// the feeder ends, releasing `permit` (its stream slot), and nothing more is queued for it.
/// `address_slot` is held by the body itself, so a dropped client still counts against its
/// address until its connection closes.
fn event_stream(
    rx: broadcast::Receiver<Bytes>,
    pacing: Pacing,
    first: Bytes,
    permit: Option<OwnedSemaphorePermit>,
    address_slot: Option<AddressSlot>,
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> {
    let (tx, client) = mpsc::channel(CLIENT_QUEUE);
    tokio::spawn(feed(rx, tx, pacing, first, permit));
    futures_util::stream::unfold(
        (client, address_slot),
        |(mut client, address_slot)| async move {
            let frame = client.recv().await?;
            Some((Ok::<_, actix_web::Error>(frame), (client, address_slot)))
        },
    )
}

/// Why a client's feeder stopped.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The client went away (the body was dropped).
    ClientGone,
    /// The client took nothing for the write deadline.
    WriteDeadline,
    /// The publisher is gone (the service is stopping).
    Closed,
}

async fn feed(
    mut rx: broadcast::Receiver<Bytes>,
    tx: mpsc::Sender<Bytes>,
    pacing: Pacing,
    first: Bytes,
    permit: Option<OwnedSemaphorePermit>,
) -> Ended {
    let ended = feed_until_end(&mut rx, &tx, pacing, first).await;
    if ended == Ended::WriteDeadline {
        metrics_core::refused::count("stream_write_deadline");
        tracing::debug!(deadline = ?pacing.write_deadline, "dropped an event-stream client that stopped reading");
    }
    drop(permit);
    ended
}

async fn feed_until_end(
    rx: &mut broadcast::Receiver<Bytes>,
    tx: &mpsc::Sender<Bytes>,
    pacing: Pacing,
    first: Bytes,
) -> Ended {
    let mut ticker = tokio::time::interval(pacing.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.reset();
    let mut next = Some(first);
    loop {
        if let Some(frame) = next.take() {
            match tokio::time::timeout(pacing.write_deadline, tx.send(frame)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Ended::ClientGone,
                Err(_) => return Ended::WriteDeadline,
            }
        }
        tokio::select! {
            _ = tx.closed() => return Ended::ClientGone,
            msg = rx.recv() => match msg {
                Ok(frame) => next = Some(frame),
                // Fell behind: the oldest frames are gone; go on with what is left.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return Ended::Closed,
            },
            _ = ticker.tick() => next = Some(Bytes::from_static(b": heartbeat\n\n")),
        }
    }
}

pub use metrics_core::slots::{AddressSlot, AddressSlots};

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::net::IpAddr;
    use std::sync::Arc;
    use tokio::sync::Semaphore;

    fn pacing(heartbeat_ms: u64, deadline_ms: u64) -> Pacing {
        Pacing {
            heartbeat: Duration::from_millis(heartbeat_ms),
            write_deadline: Duration::from_millis(deadline_ms),
        }
    }

    #[tokio::test]
    async fn a_slow_stream_client_skips_frames_instead_of_buffering() {
        let (tx, rx) = broadcast::channel(4);
        let mut stream = Box::pin(event_stream(
            rx,
            pacing(3_600_000, 3_600_000),
            Bytes::from_static(b"first"),
            None,
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
        let (_tx, rx) = broadcast::channel::<Bytes>(4);
        let mut stream = Box::pin(event_stream(
            rx,
            pacing(50, 3_600_000),
            Bytes::from_static(b"first"),
            None,
            None,
        ));
        assert_eq!(stream.next().await.unwrap().unwrap(), "first");
        assert_eq!(stream.next().await.unwrap().unwrap(), ": heartbeat\n\n");
    }

    #[tokio::test]
    async fn a_client_that_takes_nothing_is_dropped_after_the_write_deadline() {
        let (tx, rx) = broadcast::channel::<Bytes>(4);
        let slots = Arc::new(Semaphore::new(1));
        let permit = slots.clone().try_acquire_owned().unwrap();
        let stream = Box::pin(event_stream(
            rx,
            pacing(20, 300),
            Bytes::from_static(b"first"),
            Some(permit),
            None,
        ));
        // Never polled: the server's write buffer is full and it stopped asking for more.
        let _ = tx.send(Bytes::from_static(b"f0"));
        let freed = tokio::time::timeout(Duration::from_secs(10), slots.acquire()).await;
        assert!(freed.is_ok(), "the slot was not freed after the deadline");
        drop(stream);
    }

    #[tokio::test]
    async fn a_reading_client_keeps_its_slot_past_the_write_deadline() {
        let (_tx, rx) = broadcast::channel::<Bytes>(4);
        let slots = Arc::new(Semaphore::new(1));
        let permit = slots.clone().try_acquire_owned().unwrap();
        let mut stream = Box::pin(event_stream(
            rx,
            pacing(20, 100),
            Bytes::from_static(b"first"),
            Some(permit),
            None,
        ));
        for _ in 0..20 {
            stream.next().await.unwrap().unwrap();
        }
        assert_eq!(
            slots.available_permits(),
            0,
            "a reading client lost its slot"
        );
    }

    #[test]
    fn address_slots_are_capped_per_address_and_given_back() {
        let slots = AddressSlots::new(2);
        let a: Option<IpAddr> = Some("127.0.0.1".parse().unwrap());
        let b: Option<IpAddr> = Some("127.0.0.2".parse().unwrap());
        let first = slots.try_acquire(a).unwrap();
        let _second = slots.try_acquire(a).unwrap();
        assert!(slots.try_acquire(a).is_none());
        assert!(slots.try_acquire(b).is_some());
        drop(first);
        assert_eq!(slots.held(a), 1);
        assert!(slots.try_acquire(a).is_some());
    }
}
