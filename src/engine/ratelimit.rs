//! Per-tenant request rate limits: a token bucket per tenant (refilled at the allowed rate, as
//! deep as two seconds of it), so a tenant's burst answers 429 instead of starving the others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One tenant's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// The buckets of every tenant.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes one request from a tenant's bucket at `rate` per second; the wait before the
    /// next request would pass when the bucket is empty.
    pub fn take(&self, tenant: &str, rate: u32) -> Result<(), Duration> {
        self.take_at(tenant, rate, Instant::now())
    }

    fn take_at(&self, tenant: &str, rate: u32, now: Instant) -> Result<(), Duration> {
        if rate == 0 {
            return Ok(());
        }
        let rate = f64::from(rate);
        let depth = rate * 2.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(tenant.to_string()).or_insert(Bucket { tokens: depth, refilled: now });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(depth);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_two_seconds_of_rate_waits() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        for _ in 0..20 {
            assert!(limiter.take_at("a", 10, start).is_ok());
        }
        let wait = limiter.take_at("a", 10, start).unwrap_err();
        assert!(wait <= Duration::from_millis(100));
        assert!(limiter.take_at("b", 10, start).is_ok(), "tenants have their own buckets");
        assert!(limiter.take_at("a", 10, start + Duration::from_millis(150)).is_ok());
        assert!(limiter.take_at("a", 0, start).is_ok(), "0 means unlimited");
    }
}
