//! Connection slots for TCP, DNS over TLS and DNS over HTTPS. A connection
//! is kept only from a client in `serve.allow_clients`, while fewer than
//! `serve.max_connections` are open in all and fewer than
//! `serve.max_connections_per_client` from that client's address. The
//! checks come at accept, before any TLS handshake or read, so neither a
//! host outside the client networks nor one device can hold every slot and
//! shut the others out of DNS over TCP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::gateway::Gateway;
use crate::metrics::Refused;

#[derive(Debug)]
pub struct Slots {
    all: Arc<Semaphore>,
    /// 0: no cap per client.
    per_client: usize,
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection's slot, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    slots: Arc<Slots>,
    client: IpAddr,
}

impl Slots {
    pub fn new(max: usize, per_client: usize) -> Arc<Slots> {
        Arc::new(Slots {
            all: Arc::new(Semaphore::new(max.max(1))),
            per_client,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a connection from `client`, or why there is none.
    pub fn take(self: &Arc<Self>, client: IpAddr) -> Result<Slot, Refused> {
        let client = client.to_canonical();
        let permit = Arc::clone(&self.all)
            .try_acquire_owned()
            .map_err(|_| Refused::ServerFull)?;
        if self.per_client > 0 {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            let count = held.entry(client).or_insert(0);
            if *count >= self.per_client {
                return Err(Refused::ClientFull);
            }
            *count += 1;
        }
        Ok(Slot {
            _permit: permit,
            slots: Arc::clone(self),
            client,
        })
    }

    /// A slot for a connection just accepted from `client`, if the client
    /// is one Ward answers and a slot is free; a refusal is counted and
    /// logged, and the caller closes the connection.
    pub fn admit(self: &Arc<Self>, gateway: &Gateway, client: IpAddr) -> Option<Slot> {
        let refused = if gateway.client_allowed(client) {
            match self.take(client) {
                Ok(slot) => return Some(slot),
                Err(refused) => refused,
            }
        } else {
            Refused::ClientRefused
        };
        gateway.metrics.connection_refused(refused);
        match refused {
            Refused::ServerFull => {
                tracing::warn!(%client, "max_connections are open; closing this one");
            }
            Refused::ClientFull => {
                tracing::debug!(%client, "max_connections_per_client are open; closing this one");
            }
            Refused::ClientRefused => {
                tracing::debug!(%client, "a client outside allow_clients; closing its connection");
            }
        }
        None
    }

    #[cfg(test)]
    fn held_by(&self, client: IpAddr) -> usize {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(&client).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.slots.per_client == 0 {
            return;
        }
        let mut held = self
            .slots
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_in_all_and_per_client_and_given_back() {
        let slots = Slots::new(3, 2);
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        let a1 = slots.take(a).unwrap();
        let a2 = slots.take(a).unwrap();
        assert_eq!(slots.take(a).unwrap_err(), Refused::ClientFull);
        // The same client as an IPv4-mapped IPv6 address is the same client.
        let mapped = IpAddr::from(std::net::Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        assert_eq!(slots.take(mapped).unwrap_err(), Refused::ClientFull);
        let b1 = slots.take(b).unwrap();
        assert_eq!(slots.take(b).unwrap_err(), Refused::ServerFull);
        drop(a1);
        assert_eq!(slots.held_by(a), 1);
        let b2 = slots.take(b).unwrap();
        drop((a2, b1, b2));
        assert_eq!((slots.held_by(a), slots.held_by(b)), (0, 0));
        assert!(
            slots.held.lock().unwrap().is_empty(),
            "no entry left behind"
        );

        // 0: no cap per client.
        let slots = Slots::new(3, 0);
        let all: Vec<Slot> = (0..3).map(|_| slots.take(a).unwrap()).collect();
        assert_eq!(slots.take(b).unwrap_err(), Refused::ServerFull);
        drop(all);
        slots.take(b).unwrap();
    }
}
