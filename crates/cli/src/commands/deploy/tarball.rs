//! The build context as a gzip tarball, made while it is uploaded: a blocking task walks the
//! directory (sorted, `.dockerignore` applied, symlinks kept as links, entry names relative
//! without `./`, as Docker archives them) and writes tar → gzip into a bounded queue of
//! [`CHUNK`]-sized pieces that the HTTP body reads. At most [`QUEUE`] chunks wait at a time,
//! so memory stays flat whatever the context's size (the convox CLI holds the whole archive
//! in memory; a CI runner deploying a large context should not have to).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::dockerignore::DockerIgnore;

/// Size of one piece of the body.
pub const CHUNK: usize = 64 * 1024;
/// Pieces made but not yet sent, at most.
pub const QUEUE: usize = 4;

/// What the producer has done so far (read by progress output and tests).
#[derive(Debug, Default)]
pub struct Counters {
    /// Files and links added.
    pub entries: AtomicU64,
    /// Compressed bytes handed to the queue.
    pub bytes_out: AtomicU64,
}

/// A tarball being made: the body stream, its counters and the producer's result.
pub struct Tarball {
    /// The gzip tarball, piece by piece.
    pub stream: Box<dyn Stream<Item = io::Result<Bytes>> + Send + Unpin>,
    /// Progress of the producer.
    pub counters: Arc<Counters>,
    /// Ends with the producer: its error says which file could not be read.
    pub done: JoinHandle<io::Result<()>>,
}

/// Starts making the tarball of `dir` without the paths `ignore` excludes.
pub fn start(dir: PathBuf, ignore: DockerIgnore) -> Tarball {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(QUEUE);
    let counters = Arc::new(Counters::default());
    let writer = QueueWriter {
        buf: Vec::with_capacity(CHUNK),
        tx: tx.clone(),
        counters: counters.clone(),
    };
    let done = tokio::task::spawn_blocking(move || {
        let result = write_tarball(&dir, &ignore, writer);
        if let Err(e) = &result {
            // The body fails too, so the upload is aborted rather than cut short silently.
            let _ = tx.blocking_send(Err(io::Error::new(e.kind(), e.to_string())));
        }
        result
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Tarball {
        stream: Box::new(Box::pin(stream)),
        counters,
        done,
    }
}

fn write_tarball(dir: &Path, ignore: &DockerIgnore, writer: QueueWriter) -> io::Result<()> {
    let gz = flate2::write::GzEncoder::new(writer, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    let counters = tar.get_ref().get_ref().counters.clone();
    walk(dir, "", ignore, &mut tar, &counters)?;
    let mut writer = tar.into_inner()?.finish()?;
    writer.flush()
}

fn walk<W: Write>(
    abs: &Path,
    rel: &str,
    ignore: &DockerIgnore,
    tar: &mut tar::Builder<W>,
    counters: &Counters,
) -> io::Result<()> {
    let mut entries = fs::read_dir(abs)
        .map_err(|e| annotate(e, abs))?
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| annotate(e, abs))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: the file name is not UTF-8", path.display()),
            )
        })?;
        let rel = if rel.is_empty() {
            name.to_owned()
        } else {
            format!("{rel}/{name}")
        };
        let kind = fs::symlink_metadata(&path)
            .map_err(|e| annotate(e, &path))?
            .file_type();
        let excluded = ignore.excludes(&rel);
        if kind.is_dir() {
            if !excluded {
                tar.append_dir(&rel, &path)
                    .map_err(|e| annotate(e, &path))?;
            }
            // A `!` line may include a file under an excluded directory again.
            if !excluded || ignore.has_exclusions() {
                walk(&path, &rel, ignore, tar, counters)?;
            }
        } else if (kind.is_file() || kind.is_symlink()) && !excluded {
            tar.append_path_with_name(&path, &rel)
                .map_err(|e| annotate(e, &path))?;
            counters.entries.fetch_add(1, Ordering::Relaxed);
        }
        // Sockets, FIFOs and devices are not part of a build context.
    }
    Ok(())
}

fn annotate(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Cuts what is written into [`CHUNK`]s and queues them, blocking while the queue is full.
struct QueueWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<io::Result<Bytes>>,
    counters: Arc<Counters>,
}

impl QueueWriter {
    fn send(&mut self, piece: Vec<u8>) -> io::Result<()> {
        let len = piece.len() as u64;
        self.tx
            .blocking_send(Ok(Bytes::from(piece)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped"))?;
        self.counters.bytes_out.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }
}

impl Write for QueueWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        while self.buf.len() >= CHUNK {
            let rest = self.buf.split_off(CHUNK);
            let piece = std::mem::replace(&mut self.buf, rest);
            self.send(piece)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let piece = std::mem::take(&mut self.buf);
            self.send(piece)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::Duration;

    use futures_util::StreamExt;

    use super::*;

    /// Incompressible bytes (xorshift), so the gzip output is as large as the input.
    fn noise(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[tokio::test]
    async fn a_large_context_is_streamed_in_bounded_chunks_and_never_held_whole() {
        const BIG: usize = 16 << 20;
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("big.bin"), noise(BIG)).unwrap();
        fs::write(dir.path().join("convox.yml"), "services: {}\n").unwrap();
        fs::write(dir.path().join(".dockerignore"), "*.log\n").unwrap();
        fs::write(dir.path().join("debug.log"), "left out").unwrap();
        let ignore = DockerIgnore::parse("*.log\n").unwrap();
        let mut tarball = start(dir.path().to_path_buf(), ignore);

        let first = tarball.stream.next().await.unwrap().unwrap();
        // With the reader stalled, the producer stops after filling the queue: what has been
        // made is a few chunks, not the 16 MiB context.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let made = tarball.counters.bytes_out.load(Ordering::Relaxed);
        assert!(
            made <= ((QUEUE + 2) * CHUNK) as u64,
            "{made} bytes made ahead of the reader"
        );

        let mut body = first.to_vec();
        let mut chunks = 1;
        while let Some(piece) = tarball.stream.next().await {
            let piece = piece.unwrap();
            assert!(piece.len() <= CHUNK);
            chunks += 1;
            body.extend_from_slice(&piece);
        }
        tarball.done.await.unwrap().unwrap();
        assert!(chunks > BIG / CHUNK, "{chunks} chunks");

        let mut names = Vec::new();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&body[..]));
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            if name == "big.bin" {
                let mut content = Vec::new();
                entry.read_to_end(&mut content).unwrap();
                assert!(content == noise(BIG), "the big file arrives intact");
            }
            names.push(name);
        }
        assert_eq!(names, [".dockerignore", "big.bin", "convox.yml"]);
    }

    #[tokio::test]
    async fn an_unreadable_directory_fails_the_body_and_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone");
        let mut tarball = start(missing.clone(), DockerIgnore::default());
        let mut failed = false;
        while let Some(piece) = tarball.stream.next().await {
            failed |= piece.is_err();
        }
        assert!(failed, "the body ends with an error");
        let e = tarball.done.await.unwrap().unwrap_err();
        assert!(e.to_string().contains("gone"), "{e}");
    }
}
