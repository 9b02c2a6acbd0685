//! Per-client rate limits for writes anyone may make (open Rekor v2
//! writes): a token bucket per client IP address.
//!
//! Bounded whatever the callers do: at most [`MAX_CLIENTS`] buckets are
//! kept; when the table is full, buckets that have refilled (whose clients
//! are owed nothing) are dropped, and if none has, a new client is refused
//! until one does. An IPv6 client is keyed by its /64, the block one host
//! usually holds, so that one host cannot take fresh buckets by the
//! address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Most clients tracked at once.
pub(crate) const MAX_CLIENTS: usize = 65_536;

/// A per-client limit: `per_minute` requests a minute on average, in bursts
/// of up to `burst`.
#[derive(Debug)]
pub(crate) struct PerClient {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl PerClient {
    /// A limit of `per_minute` requests a minute per client, bursts of
    /// `burst` (each at least 1).
    pub(crate) fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_minute.max(1)) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `client`'s allowance; `Err(seconds)` (until
    /// the next one is allowed) if there is none.
    pub(crate) fn take(&self, client: IpAddr) -> Result<(), u64> {
        let client = key(client);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(&client) && buckets.len() >= MAX_CLIENTS {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
            if buckets.len() >= MAX_CLIENTS {
                return Err((1.0 / self.per_second).ceil() as u64);
            }
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refilled =
            bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = refilled.min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / self.per_second).ceil() as u64)
        }
    }
}

/// The key of a client: its IPv4 address, or its IPv6 /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits_and_others_are_not_affected() {
        let limit = PerClient::new(60, 3);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..3 {
            assert!(limit.take(a).is_ok());
        }
        assert_eq!(limit.take(a), Err(1), "one a second");
        assert!(limit.take(b).is_ok());
    }

    #[test]
    fn the_addresses_of_one_ipv6_block_share_a_bucket() {
        let limit = PerClient::new(1, 1);
        assert!(limit.take("2001:db8::1".parse().expect("ip")).is_ok());
        assert!(limit.take("2001:db8::2".parse().expect("ip")).is_err());
        assert!(limit.take("2001:db8:0:1::1".parse().expect("ip")).is_ok());
    }

    #[test]
    fn a_full_table_refuses_new_clients_until_one_refills() {
        let limit = PerClient::new(1, 1);
        for i in 0..MAX_CLIENTS as u32 {
            assert!(limit.take(IpAddr::V4(i.into())).is_ok());
        }
        assert!(limit.take(IpAddr::V4(u32::MAX.into())).is_err(), "no room");
    }
}
