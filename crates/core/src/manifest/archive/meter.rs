//! Byte-counting, limit-enforcing readers that remember what went wrong.
//!
//! The gzip decoder and the tar reader turn every failure into an opaque `io::Error`, so each
//! layer of the stream is wrapped in a [`Metered`] reader whose [`Meter`] records whether the
//! limit was hit, whether the inner reader failed (keeping its error) and whether it ended.
//! After a failure the caller asks the meters, outermost first, what really happened.

use std::cell::{Cell, RefCell};
use std::io::{self, Read};

/// Counters shared between a [`Metered`] reader and the code that classifies failures.
#[derive(Debug)]
pub(super) struct Meter {
    limit: u64,
    count: Cell<u64>,
    exceeded: Cell<bool>,
    ended: Cell<bool>,
    error: RefCell<Option<io::Error>>,
}

impl Meter {
    /// A meter that lets at most `limit` bytes through.
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            count: Cell::new(0),
            exceeded: Cell::new(false),
            ended: Cell::new(false),
            error: RefCell::new(None),
        }
    }

    /// Whether more than the limit was offered.
    pub fn exceeded(&self) -> bool {
        self.exceeded.get()
    }

    /// Whether the inner reader reported end of stream.
    pub fn ended(&self) -> bool {
        self.ended.get()
    }

    /// The first error the inner reader returned, if any.
    pub fn take_error(&self) -> Option<io::Error> {
        self.error.borrow_mut().take()
    }

    /// The limit, in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

/// Wraps a reader, counting bytes against a [`Meter`].
///
/// Errors returned upward are stand-ins (`ErrorKind::Other`); the original is kept in the
/// meter, so the decoders above cannot reinterpret it.
pub(super) struct Metered<'m, R> {
    inner: R,
    meter: &'m Meter,
}

impl<'m, R> Metered<'m, R> {
    pub fn new(inner: R, meter: &'m Meter) -> Self {
        Self { inner, meter }
    }
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let meter = self.meter;
        if meter.exceeded.get() {
            return Err(io::Error::other("size limit exceeded"));
        }
        if meter.error.borrow().is_some() {
            return Err(io::Error::other("the stream already failed"));
        }
        // One byte past the limit is enough to know it was exceeded.
        let room = meter
            .limit
            .saturating_sub(meter.count.get())
            .saturating_add(1);
        let len = usize::try_from(room).unwrap_or(usize::MAX).min(buf.len());
        let buf = buf.get_mut(..len).unwrap_or_default();
        match self.inner.read(buf) {
            Ok(0) if !buf.is_empty() => {
                meter.ended.set(true);
                Ok(0)
            }
            Ok(n) => {
                let count = meter.count.get().saturating_add(n as u64);
                meter.count.set(count);
                if count > meter.limit {
                    meter.exceeded.set(true);
                    return Err(io::Error::other("size limit exceeded"));
                }
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let stand_in = io::Error::other(format!("inner stream failed: {e}"));
                *meter.error.borrow_mut() = Some(e);
                Err(stand_in)
            }
        }
    }
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
pub(super) fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metered_reader_passes_exactly_the_limit() {
        let meter = Meter::new(4);
        let mut out = Vec::new();
        Metered::new(&b"abcd"[..], &meter)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"abcd");
        assert!(!meter.exceeded() && meter.ended());
    }

    #[test]
    fn a_metered_reader_fails_one_byte_past_the_limit() {
        let meter = Meter::new(3);
        let mut out = Vec::new();
        assert!(
            Metered::new(&b"abcd"[..], &meter)
                .read_to_end(&mut out)
                .is_err()
        );
        assert!(meter.exceeded());
    }

    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "client went away",
            ))
        }
    }

    #[test]
    fn a_metered_reader_keeps_the_inner_error() {
        let meter = Meter::new(10);
        let err = Metered::new(Failing, &meter).read(&mut [0; 4]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert_eq!(
            meter.take_error().unwrap().kind(),
            io::ErrorKind::ConnectionReset
        );
    }
}
