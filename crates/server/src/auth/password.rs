//! Password hashing with argon2id (the crate's defaults: m = 19 MiB, t = 2, p = 1).
//! Unknown emails and accounts without a password are verified against a dummy hash, so every
//! login attempt costs one argon2 verification whatever the account state.
//!
//! Memory is the scarce resource: every computation needs m KiB of working memory. In the
//! server all of them go through one [`Hasher`] per process: at most `concurrency` at once (a
//! semaphore; waiters queue), on the blocking pool, each in a working buffer that is reused
//! while more hashes are waiting and freed when the hasher goes idle.
//!
//! Letting argon2 allocate and free 19 MiB per attempt made a burst of 100 logins cost
//! ~1.4 GiB of resident memory that was never given back: glibc raises its mmap threshold
//! (up to 32 MiB) after the first such block is freed, so later blocks came from its
//! per-thread arenas, which keep freed memory. Our buffers reserve [`BUFFER_RESERVE`] bytes,
//! more than glibc's largest mmap threshold, so the allocator always maps them directly and
//! unmaps them on free; only the pages a hash touches (19 MiB) are ever resident. Hashing
//! memory is thus at most `concurrency × 19 MiB` during a burst and nothing after it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher, Version};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::app::AppState;

/// Shortest password accepted for local accounts.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted (bounds the hashing work per request).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Upper bound of the default concurrency (the number of CPUs, at most this).
pub const DEFAULT_MAX_CONCURRENCY: usize = 4;
/// Capacity reserved per working buffer: above glibc's largest dynamic mmap threshold
/// (`DEFAULT_MMAP_THRESHOLD_MAX`, 32 MiB on 64-bit), so the buffer is always its own mapping
/// and freeing it returns the memory to the system. Untouched capacity costs no RSS.
pub const BUFFER_RESERVE: usize = 33 << 20;

/// A fixed argon2id hash (the crate's default parameters) verified when there is no real one,
/// so the work is the same. Its password is unknown and irrelevant: the result is discarded.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$cmFjay1nYXRld2F5LWR1bW15$\
                          mOl0T1w2ZD0hXPuZHA2rNT1xKSc2Y8Zk1WcQ+zxHs8E";

/// Checks the length rules of a new password.
pub fn validate_new(password: &SecretString) -> Result<(), String> {
    let len = password.expose_secret().chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if password.expose_secret().len() > MAX_PASSWORD_LEN {
        return Err(format!("a password is at most {MAX_PASSWORD_LEN} bytes"));
    }
    Ok(())
}

/// The default number of concurrent hashes: the number of CPUs, at most
/// [`DEFAULT_MAX_CONCURRENCY`]. Argon2 with p = 1 is one CPU-bound thread per hash, so more
/// would only add memory, not throughput.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, DEFAULT_MAX_CONCURRENCY)
}

/// Bounded, memory-reusing argon2id hashing for one process (see the module docs).
pub struct Hasher {
    permits: Semaphore,
    /// Idle working buffers. A permit holder takes one (or allocates one) and puts it back;
    /// the last computation out while nothing waits frees them all.
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
    /// Computations waiting or running.
    pending: Arc<AtomicUsize>,
    concurrency: usize,
    verifications: AtomicU64,
    allocations: Arc<AtomicU64>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Hasher {
    /// A hasher running at most `concurrency` (≥ 1) computations at once.
    pub fn new(concurrency: usize) -> Hasher {
        let concurrency = concurrency.max(1);
        Hasher {
            permits: Semaphore::new(concurrency),
            buffers: Arc::default(),
            pending: Arc::default(),
            concurrency,
            verifications: AtomicU64::new(0),
            allocations: Arc::default(),
        }
    }

    /// How many computations may run at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// How many verifications this hasher has run.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// How many working buffers this hasher has allocated.
    pub fn buffers_allocated(&self) -> u64 {
        self.allocations.load(Ordering::Relaxed)
    }

    /// Runs `f` with a working buffer on the blocking pool, holding a permit throughout.
    async fn with_buffer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let pending = Pending::enter(&self.pending);
        let permit = self
            .permits
            .acquire()
            .await
            .context("the password hasher is closed")?;
        let (buffers, allocations) = (self.buffers.clone(), self.allocations.clone());
        let out = tokio::task::spawn_blocking(move || {
            let taken = lock(&buffers).pop();
            let mut buf = taken.unwrap_or_else(|| {
                allocations.fetch_add(1, Ordering::Relaxed);
                Vec::with_capacity(BUFFER_RESERVE / Block::SIZE)
            });
            let out = f(&mut buf);
            lock(&buffers).push(buf);
            out
        })
        .await
        .context("password hashing task");
        drop(permit);
        if pending.leave() {
            // Nothing is waiting: give the working memory back (see the module docs). A
            // computation that starts meanwhile simply allocates a new buffer.
            let idle = std::mem::take(&mut *lock(&self.buffers));
            drop(idle);
        }
        out
    }

    /// Verifies `password` against `stored` (or against the dummy hash when `stored` is `None`,
    /// and then always fails). Runs exactly one argon2 verification either way.
    pub async fn verify(&self, stored: Option<&str>, password: &SecretString) -> bool {
        let has_real = stored.is_some();
        let hash = stored.unwrap_or(DUMMY_HASH).to_owned();
        let password = password.clone();
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let ok = self
            .with_buffer(move |buf| verify_with(buf, &hash, &password))
            .await
            .unwrap_or(false);
        ok && has_real
    }

    /// Hashes a new password into a PHC string (argon2id, default parameters, random salt).
    pub async fn hash(&self, password: SecretString) -> anyhow::Result<String> {
        self.with_buffer(move |buf| hash_with(buf, &password))
            .await?
    }
}

fn lock(buffers: &Mutex<Vec<Vec<Block>>>) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
    buffers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Counts a computation as pending until [`Pending::leave`] (or drop, if the caller went away).
struct Pending {
    count: Arc<AtomicUsize>,
    left: bool,
}

impl Pending {
    fn enter(count: &Arc<AtomicUsize>) -> Pending {
        count.fetch_add(1, Ordering::SeqCst);
        Pending {
            count: count.clone(),
            left: false,
        }
    }

    /// Stops counting; true when this was the last pending computation.
    fn leave(mut self) -> bool {
        self.left = true;
        self.count.fetch_sub(1, Ordering::SeqCst) == 1
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.left {
            self.count.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Grows `buf` to `blocks` blocks if needed (once per buffer for the default parameters).
fn blocks(buf: &mut Vec<Block>, blocks: usize) -> &mut [Block] {
    if buf.len() < blocks {
        buf.resize(blocks, Block::default());
    }
    &mut buf[..blocks]
}

fn verify_with(buf: &mut Vec<Block>, phc: &str, password: &SecretString) -> bool {
    let mut check = || -> Option<bool> {
        let hash = PasswordHash::new(phc).ok()?;
        let params = Params::try_from(&hash).ok()?;
        let algorithm = Algorithm::try_from(hash.algorithm.as_str()).ok()?;
        let version = match hash.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let (salt, expected) = (hash.salt?, hash.hash?);
        let mut out = vec![0u8; expected.len()];
        let count = params.block_count();
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(
                password.expose_secret().as_bytes(),
                &salt,
                &mut out,
                blocks(buf, count),
            )
            .ok()?;
        Some(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
    };
    check().unwrap_or(false)
}

fn hash_with(buf: &mut Vec<Block>, password: &SecretString) -> anyhow::Result<String> {
    let params = Params::default();
    let salt = Salt::generate();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let count = params.block_count();
    let params_string = ParamsString::try_from(&params)
        .map_err(|e| anyhow::anyhow!("encoding argon2 parameters: {e}"))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            &salt,
            &mut out,
            blocks(buf, count),
        )
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: params_string,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("argon2 output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Hashes a password into a PHC string with the crate's own allocation (blocking). For the
/// operator commands and tests, which hash a handful of passwords outside a server; the
/// server hashes through its [`Hasher`].
pub fn hash_blocking(password: &SecretString) -> anyhow::Result<String> {
    let hash = Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    Ok(hash.to_string())
}

/// The server's hasher (built on first use from `RGW_PASSWORD_HASH_CONCURRENCY`).
pub fn hasher(state: &AppState) -> &Hasher {
    state.auth.hasher.get_or_init(|| {
        Hasher::new(
            state
                .config
                .password_hash_concurrency
                .unwrap_or_else(default_concurrency),
        )
    })
}

/// Verifies a login password through the server's hasher (see [`Hasher::verify`]).
pub async fn verify(state: &AppState, stored: Option<&str>, password: &SecretString) -> bool {
    hasher(state).verify(stored, password).await
}

/// Hashes a new password through the server's hasher.
pub async fn hash(state: &AppState, password: SecretString) -> anyhow::Result<String> {
    hasher(state).hash(password).await
}

/// [`hash_blocking`] on the blocking pool.
pub async fn hash_async(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .context("password hashing task")?
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier;

    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_per_salt() {
        let hasher = Hasher::new(2);
        let pw = SecretString::from("correct horse battery".to_owned());
        let a = hasher.hash(pw.clone()).await.unwrap();
        let b = hash_async(pw.clone()).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        // The pooled and the crate's own implementation agree both ways.
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &PasswordHash::new(&a).unwrap())
                .is_ok()
        );
        assert!(hasher.verify(Some(&b), &pw).await);
        assert!(hasher.verify(Some(&a), &pw).await);
        let wrong = SecretString::from("wrong".to_owned());
        assert!(!hasher.verify(Some(&a), &wrong).await);
        assert!(!hasher.verify(Some("not a phc string"), &pw).await);
        assert!(!hasher.verify(None, &pw).await);
        assert_eq!(hasher.verifications(), 5);
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_hash_costs() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        let params = Params::try_from(&dummy).unwrap();
        let default = Params::default();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (default.m_cost(), default.t_cost(), default.p_cost())
        );
        assert_eq!(dummy.algorithm, argon2::ARGON2ID_IDENT);
    }

    #[tokio::test]
    async fn a_burst_reuses_one_buffer_per_permit_and_frees_them_when_idle() {
        let hasher = Hasher::new(2);
        let pw = SecretString::from("correct horse battery".to_owned());
        let burst = (0..8).map(|_| hasher.verify(None, &pw));
        futures_util::future::join_all(burst).await;
        assert_eq!(hasher.verifications(), 8);
        assert_eq!(hasher.buffers_allocated(), 2, "two permits, two buffers");
        assert!(lock(&hasher.buffers).is_empty(), "freed once nothing waits");
        hasher.verify(None, &pw).await;
        assert_eq!(hasher.buffers_allocated(), 3);
    }

    #[test]
    fn a_buffer_reserves_more_than_the_largest_glibc_mmap_threshold() {
        let buf: Vec<Block> = Vec::with_capacity(BUFFER_RESERVE / Block::SIZE);
        assert!(buf.capacity() * Block::SIZE > 32 << 20);
        assert!(Params::default().block_count() <= buf.capacity());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(validate_new(&SecretString::from("short".to_owned())).is_err());
        assert!(validate_new(&SecretString::from("long enough password".to_owned())).is_ok());
    }
}
