//! Rate limits: keyed token buckets (governor's GCRA) per client identity, with a growing
//! cool-down for clients that keep hitting the limit.
//!
//! * **Identity.** A request presenting a live bearer token is counted against that token's
//!   id; any other request (no token, or an unknown or revoked one) against the TCP peer's
//!   IP address. The operator's token is exempt by default ([`EXEMPT_OPERATOR_DEFAULT`]):
//!   the operator is not a peer, and bulk imports and benchmarks use it. Anonymous callers
//!   on a loopback address are exempt by default too ([`EXEMPT_LOOPBACK_DEFAULT`]): they
//!   are local tooling or a reverse proxy on the same host, and in both cases the address
//!   names no remote client, so one shared bucket would throttle every client at once.
//!   (Token holders are limited by token id whatever their address.)
//! * **Buckets.** Authenticated identities draw from a bucket of
//!   `authenticated_per_minute`, anonymous ones from `anonymous_per_minute`. An endpoint
//!   with an override (`[rate_limits.endpoints]`, keyed by the operation id of
//!   [`crate::api::endpoints`]) has its own bucket per identity instead, e.g.
//!   `calendarDigest`, which writes to the ledger ([`ENDPOINT_DEFAULTS`]).
//! * **Refusal.** Over the limit the answer is 429 problem+json, code `rate_limited`, with
//!   `Retry-After` in whole seconds (rounded up). Each refusal within [`PENALTY_WINDOW`] of
//!   the previous cool-down's end doubles the cool-down ([`PENALTY_BASE`] up to
//!   [`PENALTY_MAX`]); during it every request of that identity is refused, with the
//!   remaining cool-down as `Retry-After`. The first request after the cool-down that is
//!   within quota clears it.
//! * **Bounds.** Each bucket and the cool-down table track at most
//!   [`TRACKED_IDENTITIES_MAX`] identities; when full, the half closest to a fresh state is
//!   forgotten (an evicted identity at worst gets a fresh bucket). Nothing here panics.
//!
//! Time comes from a governor [`Clock`] (monotonic in the node, a fake one in tests).

use crate::api::AppState;
use crate::api::problem::Problem;
use crate::config::RateLimitSettings;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, MonotonicClock, Reference};
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{NotUntil, Quota};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Requests per period (a minute unless scaled) for each bearer-token identity.
pub const AUTHENTICATED_PER_MINUTE_DEFAULT: u32 = 100;
/// Requests per period for each registered peer (seed 001: 100 requests per minute per peer).
pub const PEER_PER_MINUTE_DEFAULT: u32 = 100;
/// Requests per period for each IP address without a live token. Higher than the
/// authenticated rate: readers behind one NAT share it, and reads are cheap.
pub const ANONYMOUS_PER_MINUTE_DEFAULT: u32 = 600;
/// Requests per period for `calendarDigest` per identity: each one writes to the ledger.
pub const CALENDAR_DIGEST_PER_MINUTE_DEFAULT: u32 = 60;
/// Per-endpoint overrides that apply unless the configuration replaces them.
pub const ENDPOINT_DEFAULTS: &[(&str, u32)] =
    &[("calendarDigest", CALENDAR_DIGEST_PER_MINUTE_DEFAULT)];
/// Whether the operator's token bypasses the limits by default.
pub const EXEMPT_OPERATOR_DEFAULT: bool = true;
/// Whether anonymous callers on loopback addresses bypass the limits by default.
pub const EXEMPT_LOOPBACK_DEFAULT: bool = true;
/// The period the `*_per_minute` rates refer to. Only tests and drills scale it
/// (`TREATY_RATE_PERIOD_MS`).
pub const PERIOD_DEFAULT: Duration = Duration::from_secs(60);
/// Highest configurable rate per period.
pub const PER_MINUTE_MAX: u32 = 1_000_000;
/// Identities tracked per bucket (and in the cool-down table) before eviction.
pub const TRACKED_IDENTITIES_MAX: usize = 100_000;
/// The first cool-down after a refusal.
pub const PENALTY_BASE: Duration = Duration::from_secs(1);
/// The longest cool-down.
pub const PENALTY_MAX: Duration = Duration::from_secs(300);
/// A refusal this soon after the previous cool-down ended counts as consecutive.
pub const PENALTY_WINDOW: Duration = Duration::from_secs(60);
/// Distinct license rates with their own peer bucket.
pub const LICENSE_RATES_MAX: usize = 1024;
/// Stable problem code of a refusal.
pub const RATE_LIMITED_CODE: &str = "rate_limited";
/// Every this many checks, identities whose state is indistinguishable from fresh (and
/// cool-downs long over) are forgotten.
pub const HOUSEKEEPING_EVERY: u64 = 10_000;

/// Who a request counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// A live bearer token, by id.
    Token(String),
    /// A registered peer whose signature verified, by peer id.
    Peer(String),
    /// Anyone else, by IP address.
    Ip(IpAddr),
}

/// A caller as the middleware sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The operator's token.
    Operator,
    /// Another live token (a writer), by id.
    Token(String),
    /// A registered peer, after its request signature verified.
    Peer {
        /// Peer id.
        id: String,
        /// Its license's events per minute, which replaces the peer default when set.
        per_minute: Option<u32>,
    },
    /// No live token.
    Anonymous(IpAddr),
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Within quota.
    Allow,
    /// Not counted (the operator, or limits are off).
    Exempt,
    /// Refused; try again after this long.
    Refuse(Duration),
}

/// A governor state store holding at most `cap` keys: when full, it forgets the half whose
/// theoretical arrival time is earliest, i.e. the keys closest to a fresh bucket.
#[derive(Debug)]
pub struct BoundedStore<K> {
    map: Mutex<HashMap<K, Nanos>>,
    cap: usize,
}

impl<K: Hash + Eq> BoundedStore<K> {
    fn new(cap: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Nanos>> {
        // The map holds plain numbers; a panic elsewhere cannot leave it inconsistent.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<K: Hash + Eq + Clone> governor::state::keyed::ShrinkableKeyedStateStore<K>
    for BoundedStore<K>
{
    fn retain_recent(&self, drop_below: Nanos) {
        self.lock().retain(|_, tat| *tat >= drop_below);
    }

    fn shrink_to_fit(&self) {
        self.lock().shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// Removes the half of `map` with the smallest `rank` (amortized O(1) per insert).
fn evict_half<K, V>(map: &mut HashMap<K, V>, rank: impl Fn(&V) -> u64) {
    let mut ranks: Vec<u64> = map.values().map(&rank).collect();
    if ranks.is_empty() {
        return;
    }
    let mid = ranks.len() / 2;
    let (_, threshold, _) = ranks.select_nth_unstable(mid);
    let threshold = *threshold;
    map.retain(|_, v| rank(v) > threshold);
}

impl<K: Hash + Eq + Clone> StateStore for BoundedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut map = self.lock();
        if let Some(tat) = map.get_mut(key) {
            let (t, new) = f(Some(*tat))?;
            *tat = new;
            return Ok(t);
        }
        let (t, new) = f(None)?;
        if map.len() >= self.cap {
            evict_half(&mut map, |n| n.as_u64());
        }
        map.insert(key.clone(), new);
        Ok(t)
    }
}

type Bucket<C> = governor::RateLimiter<
    Identity,
    BoundedStore<Identity>,
    C,
    governor::middleware::NoOpMiddleware<<C as Clock>::Instant>,
>;

/// A cool-down in progress (times since the limiter's start).
#[derive(Debug, Clone, Copy)]
struct Penalty {
    strikes: u32,
    until: Duration,
}

/// The node's rate limiter.
pub struct RateLimiter<C: Clock + Clone = MonotonicClock> {
    clock: C,
    start: C::Instant,
    enabled: bool,
    exempt_operator: bool,
    exempt_loopback: bool,
    authenticated: Bucket<C>,
    anonymous: Bucket<C>,
    peers: Bucket<C>,
    /// Buckets for peers whose license sets its own rate, one per distinct rate (at most
    /// [`LICENSE_RATES_MAX`]; beyond that the peer default applies).
    licensed: Mutex<HashMap<u32, std::sync::Arc<Bucket<C>>>>,
    burst: Option<u32>,
    period: Duration,
    endpoints: HashMap<String, Bucket<C>>,
    penalties: Mutex<HashMap<Identity, Penalty>>,
    cap: usize,
    checks: std::sync::atomic::AtomicU64,
}

impl<C: Clock + Clone> std::fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("enabled", &self.enabled)
            .field("exempt_operator", &self.exempt_operator)
            .field("endpoints", &self.endpoints.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// The node's limiter, on the monotonic clock.
    #[must_use]
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self::with_clock(settings, MonotonicClock, TRACKED_IDENTITIES_MAX)
    }
}

/// `per_period` requests per `period`, with `burst` (default: `per_period`) at once.
fn quota(per_period: u32, burst: Option<u32>, period: Duration) -> Quota {
    let n = NonZeroU32::new(per_period).unwrap_or(NonZeroU32::MIN);
    let interval = (period / n.get()).max(Duration::from_nanos(1));
    let burst = burst.and_then(NonZeroU32::new).unwrap_or(n);
    Quota::with_period(interval)
        .unwrap_or_else(|| Quota::per_second(n))
        .allow_burst(burst)
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// A limiter on `clock`, tracking at most `cap` identities per table.
    #[must_use]
    pub fn with_clock(settings: &RateLimitSettings, clock: C, cap: usize) -> Self {
        let bucket = |per: u32| {
            governor::RateLimiter::new(
                quota(per, settings.burst, settings.period),
                BoundedStore::new(cap),
                clock.clone(),
            )
        };
        Self {
            start: clock.now(),
            enabled: settings.enabled,
            exempt_operator: settings.exempt_operator,
            exempt_loopback: settings.exempt_loopback,
            authenticated: bucket(settings.authenticated_per_minute),
            anonymous: bucket(settings.anonymous_per_minute),
            peers: bucket(settings.peer_per_minute),
            licensed: Mutex::new(HashMap::new()),
            burst: settings.burst,
            period: settings.period,
            endpoints: settings
                .endpoints
                .iter()
                .map(|(id, per)| (id.clone(), bucket(*per)))
                .collect(),
            penalties: Mutex::new(HashMap::new()),
            cap: cap.max(1),
            checks: std::sync::atomic::AtomicU64::new(0),
            clock,
        }
    }

    fn now(&self) -> Duration {
        self.clock.now().duration_since(self.start).into()
    }

    fn penalties(&self) -> MutexGuard<'_, HashMap<Identity, Penalty>> {
        self.penalties
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn buckets(&self) -> impl Iterator<Item = &Bucket<C>> {
        std::iter::once(&self.authenticated)
            .chain(std::iter::once(&self.anonymous))
            .chain(std::iter::once(&self.peers))
            .chain(self.endpoints.values())
    }

    /// The shared bucket for peers licensed at `per_minute`, created on first use.
    fn licensed_bucket(&self, per_minute: u32) -> Option<std::sync::Arc<Bucket<C>>> {
        let mut map = self
            .licensed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(b) = map.get(&per_minute) {
            return Some(b.clone());
        }
        if map.len() >= LICENSE_RATES_MAX {
            return None;
        }
        let b = std::sync::Arc::new(governor::RateLimiter::new(
            quota(per_minute, self.burst, self.period),
            BoundedStore::new(self.cap),
            self.clock.clone(),
        ));
        map.insert(per_minute, b.clone());
        Some(b)
    }

    /// Forgets identities whose buckets are full again and cool-downs that no longer count.
    pub fn housekeeping(&self) {
        for b in self.buckets() {
            b.retain_recent();
            b.shrink_to_fit();
        }
        let licensed: Vec<_> = self
            .licensed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for b in licensed {
            b.retain_recent();
            b.shrink_to_fit();
        }
        let now = self.now();
        let mut penalties = self.penalties();
        penalties.retain(|_, p| p.until.saturating_add(PENALTY_WINDOW) > now);
        penalties.shrink_to_fit();
    }

    /// Identities tracked: the largest bucket and the cool-down table.
    #[must_use]
    pub fn tracked(&self) -> (usize, usize) {
        let buckets = self.buckets().map(|b| b.len()).max().unwrap_or(0);
        (buckets, self.penalties().len())
    }

    /// Counts one request of `caller` to `endpoint` (an operation id, if known).
    pub fn check(&self, caller: &Caller, endpoint: Option<&str>) -> Decision {
        let key = match caller {
            _ if !self.enabled => return Decision::Exempt,
            Caller::Operator if self.exempt_operator => return Decision::Exempt,
            Caller::Operator => Identity::Token(String::new()),
            Caller::Token(id) => Identity::Token(id.clone()),
            Caller::Peer { id, .. } => Identity::Peer(id.clone()),
            Caller::Anonymous(ip) if self.exempt_loopback && ip.to_canonical().is_loopback() => {
                return Decision::Exempt;
            }
            Caller::Anonymous(ip) => Identity::Ip(ip.to_canonical()),
        };
        let n = self
            .checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % HOUSEKEEPING_EVERY == HOUSEKEEPING_EVERY - 1 {
            self.housekeeping();
        }
        let licensed = match caller {
            Caller::Peer {
                per_minute: Some(n),
                ..
            } => self.licensed_bucket(*n),
            _ => None,
        };
        let bucket = match (endpoint.and_then(|e| self.endpoints.get(e)), &licensed) {
            (Some(b), _) => b,
            (None, Some(b)) => b,
            (None, None) => match key {
                Identity::Token(_) => &self.authenticated,
                Identity::Peer(_) => &self.peers,
                Identity::Ip(_) => &self.anonymous,
            },
        };
        let now = self.now();
        let mut penalties = self.penalties();
        if let Some(p) = penalties.get_mut(&key) {
            if p.until > now {
                escalate(p, now, Duration::ZERO);
                return Decision::Refuse(p.until.saturating_sub(now));
            }
        }
        match bucket.check_key(&key) {
            Ok(()) => {
                penalties.remove(&key);
                Decision::Allow
            }
            Err(not_until) => {
                let wait = wait_time(&not_until, &self.clock);
                if let Some(p) = penalties.get_mut(&key) {
                    escalate(p, now, wait);
                    return Decision::Refuse(p.until.saturating_sub(now));
                }
                if penalties.len() >= self.cap {
                    // Cool-downs that ended a window ago no longer matter; then the oldest.
                    penalties.retain(|_, p| p.until.saturating_add(PENALTY_WINDOW) > now);
                    if penalties.len() >= self.cap {
                        evict_half(&mut penalties, |p| {
                            u64::try_from(p.until.as_nanos()).unwrap_or(u64::MAX)
                        });
                    }
                }
                let mut p = Penalty {
                    strikes: 0,
                    until: now,
                };
                escalate(&mut p, now, wait);
                penalties.insert(key, p);
                Decision::Refuse(p.until.saturating_sub(now))
            }
        }
    }
}

fn wait_time<C: Clock>(not_until: &NotUntil<C::Instant>, clock: &C) -> Duration {
    not_until.wait_time_from(clock.now())
}

/// The cool-down after `strikes` consecutive refusals: doubling from [`PENALTY_BASE`],
/// capped at [`PENALTY_MAX`].
#[must_use]
pub fn penalty_for(strikes: u32) -> Duration {
    let doublings = strikes.saturating_sub(1).min(31);
    PENALTY_BASE
        .checked_mul(1u32 << doublings)
        .map_or(PENALTY_MAX, |d| d.min(PENALTY_MAX))
}

/// Records one more refusal at `now`: consecutive if within [`PENALTY_WINDOW`] of the end of
/// the previous cool-down, which then doubles.
fn escalate(p: &mut Penalty, now: Duration, wait: Duration) {
    p.strikes = if now <= p.until.saturating_add(PENALTY_WINDOW) {
        p.strikes.saturating_add(1)
    } else {
        1
    };
    let until = now.saturating_add(penalty_for(p.strikes).max(wait));
    p.until = p.until.max(until);
}

/// `Retry-After` seconds for a wait: rounded up, at least 1.
#[must_use]
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// The 429 problem for a refusal, with `Retry-After`.
#[must_use]
pub fn refusal_problem(wait: Duration) -> Problem {
    let secs = retry_after_secs(wait);
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        RATE_LIMITED_CODE,
        format!("too many requests; retry after {secs} s"),
    )
    .with("retry_after", secs)
    .with_header_value(header::RETRY_AFTER, HeaderValue::from(secs))
}

/// The 429 answer for a refusal.
#[must_use]
pub fn refusal(wait: Duration) -> Response {
    refusal_problem(wait).into_response()
}

/// Axum middleware: counts the request against its caller and refuses it when over the
/// limit. The bearer token is looked up by hash only; whether it may do what it asks is
/// still decided by the handler.
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let caller = match state.token_grant(req.headers()) {
        Some(g) if g.collections.is_none() => Caller::Operator,
        Some(g) => Caller::Token(g.id),
        None => Caller::Anonymous(
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
        ),
    };
    let endpoint =
        crate::api::endpoints::find(req.method().as_str(), req.uri().path()).map(|e| e.id);
    let start = std::time::Instant::now();
    let resp = match state.limiter.check(&caller, endpoint) {
        Decision::Allow | Decision::Exempt => next.run(req).await,
        Decision::Refuse(wait) => {
            tracing::debug!(?caller, ?endpoint, ?wait, "rate limited");
            refusal(wait)
        }
    };
    // The outermost layer sees every answer, so request metrics are recorded here.
    crate::telemetry::record_request(endpoint, resp.status().as_u16(), start.elapsed());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn settings(auth: u32, anon: u32) -> RateLimitSettings {
        RateLimitSettings {
            authenticated_per_minute: auth,
            anonymous_per_minute: anon,
            ..RateLimitSettings::default()
        }
    }

    fn ip(n: u8) -> Caller {
        Caller::Anonymous(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)))
    }

    fn limiter(s: &RateLimitSettings) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (RateLimiter::with_clock(s, clock.clone(), 100), clock)
    }

    #[test]
    fn quota_then_refusal_then_refill() {
        let (l, clock) = limiter(&settings(3, 6));
        for _ in 0..6 {
            assert_eq!(l.check(&ip(1), None), Decision::Allow);
        }
        // 6/min: one request per 10 s; the first cool-down is shorter than that.
        assert_eq!(
            l.check(&ip(1), None),
            Decision::Refuse(Duration::from_secs(10))
        );
        clock.advance(Duration::from_secs(10));
        assert_eq!(l.check(&ip(1), None), Decision::Allow);
        assert_eq!(
            l.tracked(),
            (1, 0),
            "a request within quota clears the cool-down"
        );
        // Once the bucket is full again the identity is indistinguishable from a new one.
        clock.advance(Duration::from_secs(120));
        l.housekeeping();
        assert_eq!(l.tracked(), (0, 0));
    }

    #[test]
    fn identities_are_isolated() {
        let (l, _) = limiter(&settings(2, 3));
        let peer = Caller::Token("t1".into());
        for _ in 0..3 {
            assert_eq!(l.check(&ip(1), None), Decision::Allow);
        }
        assert!(matches!(l.check(&ip(1), None), Decision::Refuse(_)));
        assert_eq!(l.check(&ip(2), None), Decision::Allow);
        assert_eq!(l.check(&peer, None), Decision::Allow);
        assert_eq!(l.check(&peer, None), Decision::Allow);
        assert!(matches!(l.check(&peer, None), Decision::Refuse(_)));
        assert_eq!(l.check(&Caller::Token("t2".into()), None), Decision::Allow);
        let local = Caller::Anonymous(IpAddr::V4(Ipv4Addr::LOCALHOST));
        for _ in 0..10 {
            assert_eq!(l.check(&local, None), Decision::Exempt);
        }
        for _ in 0..100 {
            assert_eq!(l.check(&Caller::Operator, None), Decision::Exempt);
        }
        let strict = RateLimitSettings {
            exempt_operator: false,
            ..settings(1, 1)
        };
        let (l, _) = limiter(&strict);
        assert_eq!(l.check(&Caller::Operator, None), Decision::Allow);
        assert!(matches!(
            l.check(&Caller::Operator, None),
            Decision::Refuse(_)
        ));
        let off = RateLimitSettings {
            enabled: false,
            ..settings(1, 1)
        };
        let (l, _) = limiter(&off);
        for _ in 0..10 {
            assert_eq!(l.check(&ip(1), None), Decision::Exempt);
        }
    }

    #[test]
    fn peers_have_their_own_bucket_and_licenses_their_own_rate() {
        let s = RateLimitSettings {
            peer_per_minute: 2,
            ..settings(50, 50)
        };
        let (l, _) = limiter(&s);
        let peer = |id: &str, per_minute| Caller::Peer {
            id: id.to_owned(),
            per_minute,
        };
        assert_eq!(l.check(&peer("a", None), None), Decision::Allow);
        assert_eq!(l.check(&peer("a", None), None), Decision::Allow);
        assert!(matches!(
            l.check(&peer("a", None), None),
            Decision::Refuse(_)
        ));
        // Another peer has its own bucket; a token of the same name is another identity.
        assert_eq!(l.check(&peer("b", None), None), Decision::Allow);
        assert_eq!(l.check(&Caller::Token("a".into()), None), Decision::Allow);
        // A licensed peer draws from a bucket of its license's rate.
        for _ in 0..5 {
            assert_eq!(l.check(&peer("c", Some(5)), None), Decision::Allow);
        }
        assert!(matches!(
            l.check(&peer("c", Some(5)), None),
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn endpoint_overrides_have_their_own_bucket() {
        let mut s = settings(100, 100);
        s.endpoints.insert("calendarDigest".into(), 2);
        let (l, _) = limiter(&s);
        assert_eq!(l.check(&ip(1), Some("calendarDigest")), Decision::Allow);
        assert_eq!(l.check(&ip(1), Some("calendarDigest")), Decision::Allow);
        // 2/min: the next slot is 30 s away.
        assert_eq!(
            l.check(&ip(1), Some("calendarDigest")),
            Decision::Refuse(Duration::from_secs(30))
        );
        // Another caller's digest bucket is untouched.
        assert_eq!(l.check(&ip(2), Some("calendarDigest")), Decision::Allow);
        assert_eq!(
            RateLimitSettings::default().endpoints.get("calendarDigest"),
            Some(&60)
        );
    }

    #[test]
    fn penalty_doubles_caps_and_resets() {
        // 600/min: a slot every 100 ms, so the cool-down dominates the wait.
        let (l, clock) = limiter(&settings(600, 600));
        let peer = Caller::Token("p".into());
        for _ in 0..600 {
            assert_eq!(l.check(&peer, None), Decision::Allow);
        }
        assert_eq!(l.check(&peer, None), Decision::Refuse(PENALTY_BASE));
        // Hammering during the cool-down doubles it each time.
        clock.advance(Duration::from_millis(500));
        assert_eq!(
            l.check(&peer, None),
            Decision::Refuse(Duration::from_secs(2))
        );
        assert_eq!(
            l.check(&peer, None),
            Decision::Refuse(Duration::from_secs(4))
        );
        for _ in 0..20 {
            let _ = l.check(&peer, None);
        }
        assert_eq!(l.check(&peer, None), Decision::Refuse(PENALTY_MAX));
        // Waiting it out resets: a request within quota is served and clears the strikes.
        clock.advance(PENALTY_MAX);
        assert_eq!(l.check(&peer, None), Decision::Allow);
        for _ in 0..599 {
            assert_eq!(l.check(&peer, None), Decision::Allow);
        }
        assert_eq!(l.check(&peer, None), Decision::Refuse(PENALTY_BASE));
    }

    #[test]
    fn requests_map_to_endpoint_ids() {
        let find = |m, p| crate::api::endpoints::find(m, p).map(|e| e.id);
        assert_eq!(find("POST", "/digest"), Some("calendarDigest"));
        assert_eq!(find("GET", "/digest"), None);
        assert_eq!(find("GET", "/v1/records/receipt/k1"), Some("getRecord"));
        assert_eq!(find("PUT", "/v1/records/receipt/k1"), Some("putRecord"));
        assert_eq!(
            find("GET", "/v1/records/receipt/k1/receipt"),
            Some("getRecordReceipt")
        );
        assert_eq!(find("GET", "/v1/records/receipt/"), None);
        assert_eq!(find("GET", "/v1/records/receipt"), Some("listRecords"));
        assert_eq!(find("GET", "/nope"), None);
    }

    #[test]
    fn penalty_schedule_and_retry_after() {
        assert_eq!(penalty_for(1), Duration::from_secs(1));
        assert_eq!(penalty_for(2), Duration::from_secs(2));
        assert_eq!(penalty_for(9), Duration::from_secs(256));
        assert_eq!(penalty_for(10), PENALTY_MAX);
        assert_eq!(penalty_for(u32::MAX), PENALTY_MAX);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(100)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        let resp = refusal(Duration::from_millis(2500));
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "3");
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }

    #[test]
    fn state_is_bounded() {
        let (l, _) = limiter(&settings(1, 1));
        for i in 0..1000u32 {
            let caller = Caller::Anonymous(IpAddr::V4(Ipv4Addr::from(i)));
            assert_eq!(l.check(&caller, None), Decision::Allow);
            assert!(matches!(l.check(&caller, None), Decision::Refuse(_)));
            let (buckets, penalties) = l.tracked();
            assert!(buckets <= 100 && penalties <= 100, "{buckets} {penalties}");
        }
        let store = BoundedStore::<u32>::new(4);
        for k in 0..10u32 {
            store
                .measure_and_replace(&k, |_| Ok::<_, ()>(((), Nanos::from(u64::from(k)))))
                .expect("ok");
        }
        assert!(store.lock().len() <= 4);
        // The most recent keys survive.
        assert!(store.lock().contains_key(&9));
    }
}
