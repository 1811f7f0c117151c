//! Abuse limits of the login: how many wrong passwords a user, an address, and a user at an
//! address may try before they must wait ([`LoginThrottle`]), and the bounded queue every
//! password hash goes through ([`HashingQueue`]).
//!
//! The waits grow exponentially past a free allowance and are capped, and they are kept per
//! pair as well as per address and per user so that a stranger cannot lock a real user out:
//! the per-user limit (many addresses guessing one password) skips the addresses the user
//! logged in from before, and caps its wait at a minute. Counts are forgotten after a quiet
//! [`WINDOW_MS`]. Everything is in memory (a restart forgets it) and bounded in size.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::credentials::HashMemory;
use crate::error::{Error, Result};

/// Failures older than this (with none since) are forgotten.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Entries each table keeps at most; past it, quiet entries go first, then all that do not
/// hold a wait.
const MAX_ENTRIES: usize = 100_000;

/// A limit: `free` failures, then waits of 1 s, 2 s, 4 s, … up to `cap_ms`.
#[derive(Clone, Copy, Debug)]
struct Rule {
    free: u32,
    cap_ms: i64,
}

const PAIR: Rule = Rule { free: 5, cap_ms: WINDOW_MS };
const ADDRESS: Rule = Rule { free: 20, cap_ms: WINDOW_MS };
const USER: Rule = Rule { free: 50, cap_ms: 60_000 };

#[derive(Clone, Copy, Debug, Default)]
struct Failures {
    count: u32,
    last_ms: i64,
    until_ms: i64,
}

#[derive(Debug)]
struct Table<K>(HashMap<K, Failures>);

impl<K: Hash + Eq> Table<K> {
    fn wait_ms(&self, key: &K, now: i64) -> i64 {
        self.0.get(key).map_or(0, |f| f.until_ms - now).max(0)
    }

    fn fail(&mut self, key: K, rule: Rule, now: i64) {
        if self.0.len() >= MAX_ENTRIES {
            self.0.retain(|_, f| now - f.last_ms < WINDOW_MS);
            if self.0.len() >= MAX_ENTRIES {
                self.0.retain(|_, f| f.until_ms > now);
            }
        }
        let f = self.0.entry(key).or_default();
        if now - f.last_ms >= WINDOW_MS {
            *f = Failures::default();
        }
        f.count += 1;
        f.last_ms = now;
        if f.count > rule.free {
            let doublings = (f.count - rule.free - 1).min(30);
            f.until_ms = now + (1000_i64 << doublings).min(rule.cap_ms);
        }
    }
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table(HashMap::new())
    }
}

#[derive(Debug, Default)]
struct State {
    pairs: Table<(String, IpAddr)>,
    addresses: Table<IpAddr>,
    users: Table<String>,
    /// Addresses each user logged in from (the per-user limit spares them).
    known: HashMap<String, Vec<IpAddr>>,
}

/// Counts failed logins and says how long a new attempt must wait.
#[derive(Debug, Default)]
pub struct LoginThrottle(Mutex<State>);

impl LoginThrottle {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refuses (429 with the seconds to wait) an attempt that must wait; `address` is `None`
    /// when the server does not know it (then only the per-user limit applies).
    pub fn check(&self, username: &str, address: Option<IpAddr>, now: i64) -> Result<()> {
        let user = username.to_ascii_lowercase();
        let state = self.state();
        let known = address.is_some_and(|a| state.known.get(&user).is_some_and(|k| k.contains(&a)));
        let mut wait = if known { 0 } else { state.users.wait_ms(&user, now) };
        if let Some(a) = address {
            wait = wait
                .max(state.addresses.wait_ms(&a, now))
                .max(state.pairs.wait_ms(&(user, a), now));
        }
        if wait == 0 {
            return Ok(());
        }
        let seconds = (wait + 999) / 1000;
        Err(Error::Throttled {
            retry_after_s: seconds as u64,
            message: format!("too many failed logins: try again in {seconds} s"),
        })
    }

    pub fn failed(&self, username: &str, address: Option<IpAddr>, now: i64) {
        let user = username.to_ascii_lowercase();
        let mut state = self.state();
        state.users.fail(user.clone(), USER, now);
        if let Some(a) = address {
            state.addresses.fail(a, ADDRESS, now);
            state.pairs.fail((user, a), PAIR, now);
        }
    }

    pub fn succeeded(&self, username: &str, address: Option<IpAddr>) {
        let user = username.to_ascii_lowercase();
        let mut state = self.state();
        let Some(a) = address else { return };
        state.pairs.0.remove(&(user.clone(), a));
        if state.known.len() >= MAX_ENTRIES {
            state.known.clear();
        }
        let known = state.known.entry(user).or_default();
        if !known.contains(&a) {
            // The latest few addresses: a user's machines, not every café they passed.
            if known.len() >= 8 {
                known.remove(0);
            }
            known.push(a);
        }
    }
}

/// Password hashing (argon2id, 19 MiB and tens of milliseconds each) runs on `workers`
/// threads of its own, each with its memory allocated once, with at most `max_waiting` jobs
/// queued; past that a request is refused at once (503 `busy`) instead of queueing memory
/// without bound.
#[derive(Debug)]
pub struct HashingQueue {
    jobs: std::sync::mpsc::SyncSender<Job>,
}

type Job = Box<dyn FnOnce(&mut HashMemory) + Send>;

impl HashingQueue {
    pub fn new(workers: usize, max_waiting: usize) -> HashingQueue {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(max_waiting);
        let queue = std::sync::Arc::new(Mutex::new(queue));
        for i in 0..workers.max(1) {
            let queue = queue.clone();
            let spawned =
                std::thread::Builder::new().name(format!("argon2-{i}")).spawn(move || {
                    let mut memory = HashMemory::default();
                    loop {
                        let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match job {
                            Ok(job) => job(&mut memory),
                            // The platform is gone.
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(target: "platform::throttle", error = %e, "cannot start a hashing thread");
            }
        }
        HashingQueue { jobs }
    }

    /// Runs `work` on a hashing thread, with its memory.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = tx.send(work(memory));
        });
        match self.jobs.try_send(job) {
            Ok(()) => rx.await.map_err(|_| Error::internal("a hashing thread stopped")),
            Err(std::sync::mpsc::TrySendError::Full(_)) => Err(Error::Unavailable {
                code: "busy",
                message: "too many logins at once: try again in a second".into(),
            }),
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                Err(Error::internal("no hashing thread runs"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    fn wait_s(t: &LoginThrottle, user: &str, at: Option<IpAddr>, now: i64) -> u64 {
        match t.check(user, at, now) {
            Ok(()) => 0,
            Err(Error::Throttled { retry_after_s, .. }) => retry_after_s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn five_free_failures_then_waits_that_double() {
        let t = LoginThrottle::default();
        for _ in 0..5 {
            t.failed("bob", A, 0);
        }
        assert_eq!(wait_s(&t, "bob", A, 0), 0);
        let mut waits = vec![];
        for _ in 0..4 {
            t.failed("bob", A, 0);
            waits.push(wait_s(&t, "bob", A, 0));
        }
        assert_eq!(waits, [1, 2, 4, 8]);
        assert_eq!(wait_s(&t, "bob", A, 8_000), 0, "the wait ends");
    }

    #[test]
    fn waits_are_capped_and_forgotten_after_a_quiet_window() {
        let t = LoginThrottle::default();
        for _ in 0..60 {
            t.failed("bob", A, 0);
        }
        assert_eq!(wait_s(&t, "bob", A, 0), (WINDOW_MS / 1000) as u64);
        t.failed("bob", A, 2 * WINDOW_MS);
        assert_eq!(wait_s(&t, "bob", A, 2 * WINDOW_MS), 0, "one failure after a quiet window");
    }

    #[test]
    fn a_stranger_cannot_lock_a_user_out_of_a_known_address() {
        let t = LoginThrottle::default();
        t.succeeded("bob", A);
        // Guesses at bob's password from many other addresses.
        for i in 0..200u32 {
            t.failed("bob", Some(IpAddr::V4(std::net::Ipv4Addr::from(0x0b00_0000 + i))), 0);
        }
        assert_eq!(wait_s(&t, "bob", A, 0), 0, "bob's own address is spared");
        let elsewhere = wait_s(&t, "bob", B, 0);
        assert!((1..=60).contains(&elsewhere), "a new address waits at most a minute: {elsewhere}");
    }

    #[test]
    fn one_address_guessing_many_users_waits() {
        let t = LoginThrottle::default();
        for i in 0..21 {
            t.failed(&format!("user{i}"), A, 0);
        }
        assert_eq!(wait_s(&t, "someone-else", A, 0), 1);
        assert_eq!(wait_s(&t, "someone-else", B, 0), 0, "other addresses are not affected");
    }

    #[test]
    fn a_success_clears_the_pair_only() {
        let t = LoginThrottle::default();
        for _ in 0..7 {
            t.failed("bob", A, 0);
        }
        assert!(wait_s(&t, "bob", A, 0) > 0);
        t.succeeded("bob", A);
        assert_eq!(wait_s(&t, "bob", A, 0), 0);
    }

    #[tokio::test]
    async fn the_hashing_queue_refuses_past_its_bound() {
        let queue = std::sync::Arc::new(HashingQueue::new(1, 1));
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let busy = queue.clone();
        let first = tokio::spawn(async move {
            busy.run(move |_| {
                let _ = started_tx.send(());
                held.recv()
            })
            .await
        });
        // The worker holds the first job; the second waits in the queue's one place.
        tokio::task::spawn_blocking(move || started.recv()).await.unwrap().unwrap();
        let mut second = std::pin::pin!(queue.run(|_| 2));
        // Polled once, it takes the place.
        tokio::select! {
            biased;
            _ = &mut second => panic!("the second job ran while the worker was held"),
            () = std::future::ready(()) => {}
        }
        let refused = queue.run(|_| 3).await.unwrap_err();
        assert_eq!(refused.code(), "busy");
        release.send(()).unwrap();
        assert!(first.await.unwrap().is_ok());
        assert_eq!(second.await.unwrap(), 2);
    }
}
