//! The steps that check a per-address cap on long-lived streams (an event stream), as clients on
//! several 127/8 addresses see it: one address's allowance filled, the next stream from it
//! refused with 429 while another address is still served, and a closed stream's place given
//! back. What the service counts meanwhile (its metrics) is the caller's to check.

use std::net::TcpStream;
use std::time::Duration;

use crate::http::open_stream;
use crate::wait;

/// The address the allowance is filled from.
pub const FIRST_ADDRESS: &str = "127.0.0.1";
/// Another client, with an allowance of its own.
pub const OTHER_ADDRESS: &str = "127.0.0.2";

/// A long-lived GET of `path` on `127.0.0.1:port`, sent with `headers`.
#[derive(Debug, Clone, Copy)]
pub struct EventStreams<'a> {
    pub port: u16,
    pub path: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
}

impl EventStreams<'_> {
    /// Opens the stream from `source` (an address on 127/8): the status once the response head
    /// arrived, and the connection, left unread ([`open_stream`]).
    pub fn open(&self, source: &str) -> (u16, TcpStream) {
        open_stream(self.port, source, self.path, self.headers)
    }

    /// Fills [`FIRST_ADDRESS`]'s allowance of `cap` streams (each answered 200), checks that
    /// one more from it is refused with 429 and that [`OTHER_ADDRESS`] is still served (200).
    /// Returns the accepted connections, held open: the first address's in order, then the
    /// other's.
    pub fn fill_address_cap(&self, cap: usize) -> Vec<TcpStream> {
        let mut held = Vec::with_capacity(cap.saturating_add(1));
        for n in 1..=cap {
            let (status, stream) = self.open(FIRST_ADDRESS);
            assert_eq!(status, 200, "stream {n} of {cap} from {FIRST_ADDRESS}");
            held.push(stream);
        }
        let (over, _) = self.open(FIRST_ADDRESS);
        assert_eq!(
            over, 429,
            "a stream beyond the cap of {cap} from one address"
        );
        let (other, stream) = self.open(OTHER_ADDRESS);
        assert_eq!(other, 200, "another address has its own allowance");
        held.push(stream);
        held
    }

    /// Closes `stream` (one of [`FIRST_ADDRESS`]'s) and waits, for at most `limit`, until that
    /// address is given a stream again.
    pub fn expect_place_given_back(&self, stream: TcpStream, limit: Duration) {
        drop(stream);
        wait::expect("the closed stream's place given back", limit, || match self
            .open(FIRST_ADDRESS)
        {
            (200, _) => Ok(()),
            (status, _) => Err(format!("status {status}")),
        });
    }
}
