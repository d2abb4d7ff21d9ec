//! The change feed: how a process learns that rows it caches were changed, by itself or by
//! another gateway sharing the database, so that the hot path can serve credentials and
//! settings from memory without ever accepting a revoked token for longer than a stated bound.
//!
//! Each [`Topic`] has an epoch, a counter that only grows. A cache records the epoch it read
//! *before* reading the database ([`ChangeFeed::stamp`]) and trusts its copy only while that
//! epoch is still current ([`ChangeFeed::is_current`]). Reading the epoch first closes the race
//! with a concurrent writer: a read that saw the old row started before the writer's commit,
//! and the writer bumps the epoch after its commit, so the copy is dropped.
//!
//! Who bumps:
//! - this process, after each store write that changes what the caches hold (the store methods
//!   call [`ChangeFeed::bump`]; transactions remember it and bump after their commit);
//! - on PostgreSQL, a listener ([`crate::Store::spawn_change_listener`]) that receives the
//!   `NOTIFY`s which triggers send after every commit that changes those rows, on any replica
//!   and from any code path (operator commands, manual SQL).
//!
//! When nothing can tell this process about other writers (SQLite, where an operator command
//! in another process may write the same file; or PostgreSQL while the listener reconnects), a
//! cached copy is trusted for at most [`UNWATCHED_MAX_AGE`].

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use uuid::Uuid;

/// How long a cached copy is trusted when changes by other processes cannot be heard.
pub const UNWATCHED_MAX_AGE: Duration = Duration::from_secs(1);

/// How long a cached copy is trusted while the PostgreSQL listener is connected: a backstop
/// in case a notification is ever lost, not the normal way copies are dropped.
pub const WATCHED_MAX_AGE: Duration = Duration::from_secs(30);

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Users, sessions, API tokens and MFA enrolment: what authentication reads.
    Identity,
    /// The settings table.
    Settings,
    /// Deploy approval requests and their approvals (the gate's read-only lookups).
    Approvals,
}

impl Topic {
    /// The PostgreSQL notification channel of this topic.
    #[must_use]
    pub fn channel(self) -> &'static str {
        match self {
            Topic::Identity => "rgw_identity",
            Topic::Settings => "rgw_settings",
            Topic::Approvals => APPROVALS_CHANNEL,
        }
    }

    fn bit(self) -> u8 {
        match self {
            Topic::Identity => 1,
            Topic::Settings => 2,
            Topic::Approvals => 4,
        }
    }
}

/// The PostgreSQL channel that carries the public id of a changed deploy approval request.
pub const APPROVALS_CHANNEL: &str = "rgw_approvals";

/// The PostgreSQL channel of the listener's own liveness proof (see `listener`).
pub const HEARTBEAT_CHANNEL: &str = "rgw_heartbeat";

/// The feed counts as watched while the listener heard its own heartbeat this recently.
pub const HEARTBEAT_GRACE: Duration = Duration::from_millis(750);

const ALL: [Topic; 3] = [Topic::Identity, Topic::Settings, Topic::Approvals];

/// When and at which epoch a cached copy was read.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    epoch: u64,
    at: Instant,
}

/// The per-store change feed (shared by every clone of a [`crate::Store`]).
#[derive(Debug)]
pub struct ChangeFeed {
    identity: AtomicU64,
    settings: AtomicU64,
    approvals_epoch: AtomicU64,
    /// When the listener last heard its heartbeat: milliseconds since `base`, plus one
    /// (0: not since it last connected).
    heard: AtomicU64,
    base: Instant,
    approvals: broadcast::Sender<Uuid>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        ChangeFeed {
            identity: AtomicU64::new(0),
            settings: AtomicU64::new(0),
            approvals_epoch: AtomicU64::new(0),
            heard: AtomicU64::new(0),
            base: Instant::now(),
            approvals: broadcast::channel(1024).0,
        }
    }
}

impl ChangeFeed {
    fn counter(&self, topic: Topic) -> &AtomicU64 {
        match topic {
            Topic::Identity => &self.identity,
            Topic::Settings => &self.settings,
            Topic::Approvals => &self.approvals_epoch,
        }
    }

    /// The stamp to keep with a copy that is about to be read from the database.
    #[must_use]
    pub fn stamp(&self, topic: Topic) -> Stamp {
        Stamp {
            epoch: self.counter(topic).load(Ordering::Acquire),
            at: Instant::now(),
        }
    }

    /// Whether a copy read under `stamp` may still be used.
    #[must_use]
    pub fn is_current(&self, topic: Topic, stamp: &Stamp) -> bool {
        let max_age = if self.is_watched() {
            WATCHED_MAX_AGE
        } else {
            UNWATCHED_MAX_AGE
        };
        stamp.epoch == self.counter(topic).load(Ordering::Acquire) && stamp.at.elapsed() < max_age
    }

    /// Records that rows of `topic` changed (after the change is committed).
    pub fn bump(&self, topic: Topic) {
        self.counter(topic).fetch_add(1, Ordering::AcqRel);
    }

    /// Bumps every topic in the bit set `topics` (see [`TopicSet`]).
    pub(crate) fn bump_set(&self, topics: TopicSet) {
        for t in ALL {
            if topics.0 & t.bit() != 0 {
                self.bump(t);
            }
        }
    }

    /// Whether changes made by other processes are being heard: the PostgreSQL listener is
    /// connected and heard its own heartbeat within [`HEARTBEAT_GRACE`].
    #[must_use]
    pub fn is_watched(&self) -> bool {
        match self.heard.load(Ordering::Acquire) {
            0 => false,
            ms => {
                let heard = self.base + Duration::from_millis(ms - 1);
                heard.elapsed() < HEARTBEAT_GRACE
            }
        }
    }

    /// The listener heard its heartbeat.
    pub(crate) fn heard_heartbeat(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.heard.store(ms + 1, Ordering::Release);
    }

    /// The listener lost its connection: it is unwatched until it hears a heartbeat again,
    /// and every copy is dropped (notifications may be missed while it reconnects).
    pub(crate) fn lost_listener(&self) {
        self.heard.store(0, Ordering::Release);
        self.bump_all();
    }

    /// Bumps every topic (nothing cached may be trusted any more).
    pub fn bump_all(&self) {
        for t in ALL {
            self.bump(t);
        }
    }

    /// Announces that deploy approval request `public_id` changed (wakes event streams).
    pub fn approval_changed(&self, public_id: Uuid) {
        // No receivers is fine: nobody is watching.
        let _ = self.approvals.send(public_id);
    }

    /// The sender behind [`ChangeFeed::approval_changed`], for subscribers.
    #[must_use]
    pub fn approvals(&self) -> &broadcast::Sender<Uuid> {
        &self.approvals
    }
}

/// A bounded map of copies kept under one topic of the feed: what every cache of the hot path
/// (credentials, settings, live approvals) is built on. A copy is returned only while its stamp
/// is current; beyond `max` entries the map starts over (cheap, and memory stays bounded under a
/// flood of distinct keys).
#[derive(Debug)]
pub struct StampedCache<K, V> {
    topic: Topic,
    max: usize,
    entries: Mutex<HashMap<K, (Stamp, V)>>,
}

impl<K: Eq + Hash, V: Clone> StampedCache<K, V> {
    /// An empty cache of copies of `topic`, holding at most `max` entries.
    #[must_use]
    pub fn new(topic: Topic, max: usize) -> Self {
        StampedCache {
            topic,
            max,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The stamp to take *before* reading what will be kept (see the module docs).
    #[must_use]
    pub fn stamp(&self, feed: &ChangeFeed) -> Stamp {
        feed.stamp(self.topic)
    }

    /// The copy for `key`, if it is still current.
    pub fn get(&self, feed: &ChangeFeed, key: &K) -> Option<V> {
        let map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(key)
            .filter(|(stamp, _)| feed.is_current(self.topic, stamp))
            .map(|(_, v)| v.clone())
    }

    /// Keeps `value` for `key`, read under `stamp`.
    pub fn put(&self, key: K, stamp: Stamp, value: V) {
        let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.max {
            map.clear();
        }
        map.insert(key, (stamp, value));
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &K) {
        let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(key);
    }

    /// Changes the copy for `key` in place, if there is one (its stamp stays).
    pub fn update(&self, key: &K, f: impl FnOnce(&mut V)) {
        let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, v)) = map.get_mut(key) {
            f(v);
        }
    }
}

/// Topics a transaction changed, bumped when it commits.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TopicSet(u8);

impl TopicSet {
    pub(crate) fn insert(&mut self, topic: Topic) {
        self.0 |= topic.bit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_dropped_when_its_topic_changes_and_only_then() {
        let feed = ChangeFeed::default();
        let id = feed.stamp(Topic::Identity);
        let st = feed.stamp(Topic::Settings);
        assert!(feed.is_current(Topic::Identity, &id));
        feed.bump(Topic::Settings);
        assert!(feed.is_current(Topic::Identity, &id));
        assert!(!feed.is_current(Topic::Settings, &st));
        feed.bump(Topic::Identity);
        assert!(!feed.is_current(Topic::Identity, &id));
    }

    #[test]
    fn an_unwatched_copy_expires_after_the_stated_bound() {
        let feed = ChangeFeed::default();
        let old = Stamp {
            epoch: 0,
            at: Instant::now() - UNWATCHED_MAX_AGE,
        };
        assert!(!feed.is_current(Topic::Identity, &old));
        feed.heard_heartbeat();
        assert!(feed.is_watched());
        assert!(feed.is_current(Topic::Identity, &old));
    }

    #[test]
    fn a_silent_listener_stops_counting_as_watched() {
        let feed = ChangeFeed::default();
        assert!(!feed.is_watched());
        feed.heard.store(1, Ordering::Release); // heard at `base`, which is now in the past
        std::thread::sleep(HEARTBEAT_GRACE);
        assert!(!feed.is_watched());
    }

    #[test]
    fn losing_the_listener_drops_every_copy() {
        let feed = ChangeFeed::default();
        feed.heard_heartbeat();
        let id = feed.stamp(Topic::Identity);
        let st = feed.stamp(Topic::Settings);
        feed.lost_listener();
        assert!(!feed.is_watched());
        assert!(!feed.is_current(Topic::Identity, &id));
        assert!(!feed.is_current(Topic::Settings, &st));
    }

    #[test]
    fn a_transaction_bumps_the_topics_it_touched() {
        let feed = ChangeFeed::default();
        let id = feed.stamp(Topic::Identity);
        let st = feed.stamp(Topic::Settings);
        let mut set = TopicSet::default();
        set.insert(Topic::Settings);
        feed.bump_set(set);
        assert!(feed.is_current(Topic::Identity, &id));
        assert!(!feed.is_current(Topic::Settings, &st));
    }
}
