//! An append-only private temporary file read back by position.
//!
//! Private: `tempfile::tempfile()` (mode 0600, unlinked at once on Unix,
//! deleted on close on Windows), since it may hold decrypted payloads.
//! Writes go through a buffer and are published by [`SpillFile::flush`];
//! reads are positioned (`pread`, `seek_read`), never mapped, so the
//! process's resident memory says what the index really holds, and a reader
//! on another thread never moves a cursor the writer relies on.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes buffered before a write.
const BUFFER: usize = 1 << 20;

/// The writing end.
#[derive(Debug)]
pub struct SpillFile {
    file: std::sync::Arc<File>,
    buf: Vec<u8>,
    /// Bytes already in the file.
    written: u64,
    /// Bytes readers may read (shared with [`ReadEnd`]).
    published: std::sync::Arc<AtomicU64>,
}

/// The reading end, shared by readers.
#[derive(Debug, Clone)]
pub struct ReadEnd {
    file: std::sync::Arc<File>,
    published: std::sync::Arc<AtomicU64>,
}

impl SpillFile {
    /// A new private temporary file.
    pub fn new() -> io::Result<SpillFile> {
        Ok(SpillFile {
            file: std::sync::Arc::new(tempfile::tempfile()?),
            buf: Vec::new(),
            written: 0,
            published: std::sync::Arc::new(AtomicU64::new(0)),
        })
    }

    /// Where the next byte appended goes.
    pub fn len(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    /// Appends `b`; returns its offset.
    pub fn append(&mut self, b: &[u8]) -> io::Result<u64> {
        let at = self.len();
        self.buf.extend_from_slice(b);
        if self.buf.len() >= BUFFER {
            self.write_out()?;
        }
        Ok(at)
    }

    fn write_out(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            write_at(&self.file, &self.buf, self.written)?;
            self.written += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes what is buffered and lets readers see it.
    pub fn flush(&mut self) -> io::Result<()> {
        self.write_out()?;
        self.published.store(self.written, Ordering::Release);
        Ok(())
    }

    /// A reader of what is published.
    pub fn reader(&self) -> ReadEnd {
        ReadEnd {
            file: self.file.clone(),
            published: self.published.clone(),
        }
    }
}

impl ReadEnd {
    /// Bytes readers may read.
    pub fn len(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }

    /// Reads `len` bytes at `at`, which must be published.
    pub fn read(&self, at: u64, len: usize) -> io::Result<Vec<u8>> {
        let end = at.checked_add(len as u64);
        if end.is_none_or(|e| e > self.len()) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the indexed part of a file",
            ));
        }
        let mut buf = vec![0; len];
        read_at(&self.file, &mut buf, at)?;
        Ok(buf)
    }
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.read_exact_at(buf, at)
}

#[cfg(unix)]
fn write_at(f: &File, buf: &[u8], at: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.write_all_at(buf, at)
}

#[cfg(windows)]
fn read_at(f: &File, mut buf: &mut [u8], mut at: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, at)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                at += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(windows)]
fn write_at(f: &File, mut buf: &[u8], mut at: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_write(buf, at)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => {
                buf = &buf[n..];
                at += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_what_is_published() {
        let mut f = SpillFile::new().unwrap();
        let r = f.reader();
        assert_eq!(f.append(b"hello").unwrap(), 0);
        assert!(r.read(0, 5).is_err());
        f.flush().unwrap();
        assert_eq!(r.read(0, 5).unwrap(), b"hello");
        assert_eq!(f.append(b" world").unwrap(), 5);
        f.flush().unwrap();
        assert_eq!(r.read(0, 11).unwrap(), b"hello world");
        assert!(r.read(10, 2).is_err());
        assert!(r.read(u64::MAX, 2).is_err());
    }
}
