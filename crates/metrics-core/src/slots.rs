//! Long-lived clients (event streams, relays) counted per remote address, so one address cannot
//! take every slot: docker-api's stream clients and the dashboard's relayed streams.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Clients per remote address, each address capped.
#[derive(Debug)]
pub struct AddressSlots {
    max: usize,
    held: Arc<Mutex<HashMap<Option<IpAddr>, usize>>>,
}

impl AddressSlots {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            held: Arc::default(),
        }
    }

    /// A slot for `address`, or `None` when it holds `max` already. (`None` as the address:
    /// no peer address known, one shared bucket.)
    pub fn try_acquire(&self, address: Option<IpAddr>) -> Option<AddressSlot> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(address).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            address,
            held: self.held.clone(),
        })
    }

    /// Slots held now by `address`.
    pub fn held(&self, address: Option<IpAddr>) -> usize {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(&address).copied().unwrap_or(0)
    }
}

/// One stream client's place in its address' count, given back when dropped.
#[derive(Debug)]
pub struct AddressSlot {
    address: Option<IpAddr>,
    held: Arc<Mutex<HashMap<Option<IpAddr>, usize>>>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.address);
            }
        }
    }
}
