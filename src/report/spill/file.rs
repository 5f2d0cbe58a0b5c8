//! An append-only scratch file, written in large pieces and read back by
//! range.
//!
//! Why stage the writes: the JSON spill appends a few kilobytes per
//! connection at a time, and the kernel's cost of a buffered write is per
//! call and per page cache folio: writing 900 MB in 4 KiB calls takes
//! 0.6 s of system time on ext4, in 1 MiB calls 0.2 s (and freeing the
//! file at the end 0.17 s against 0.06 s, the pages being larger folios).

use std::fs::File;
use std::io::{self, Write};

/// Bytes gathered before one write to the file.
const STAGE_BYTES: usize = 1 << 20;

/// The file and the tail not yet written to it.
pub(crate) struct SpillFile {
    file: File,
    /// Bytes written to the file; the stage holds the bytes after them.
    written: u64,
    stage: Vec<u8>,
    /// A write failed: everything after `written` stays in the stage.
    failed: bool,
}

impl SpillFile {
    /// A private scratch file in `dir`. It holds decrypted payload text, so
    /// no other user may read it: `tempfile` makes it mode 0600 and never
    /// names it (Linux `O_TMPFILE`) or unlinks it at once (other Unix), or
    /// has the OS delete it on close (Windows). Nothing is left behind
    /// even when the process is killed.
    pub(crate) fn create_in(dir: &std::path::Path) -> io::Result<Self> {
        let file = tempfile::tempfile_in(dir)?;
        // Linux's `O_TMPFILE` takes the umask's mode (nameless, but still
        // reachable as `/proc/<pid>/fd/N`): make it the owner's only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(Self::new(file))
    }

    pub(crate) fn new(file: File) -> Self {
        SpillFile {
            file,
            written: 0,
            stage: Vec::new(),
            failed: false,
        }
    }

    /// Offset of the next byte appended.
    pub(crate) fn end(&self) -> u64 {
        self.written + self.stage.len() as u64
    }

    /// Appends `bytes` at [`Self::end`]. They are kept (and can be read
    /// back) even when the write to the file fails, which is then reported:
    /// the caller should stop appending, since memory would grow.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.stage.capacity() == 0 {
            self.stage.reserve_exact(STAGE_BYTES);
        }
        self.stage.extend_from_slice(bytes);
        if self.stage.len() >= STAGE_BYTES {
            self.write_stage()?;
        }
        Ok(())
    }

    fn write_stage(&mut self) -> io::Result<()> {
        if self.failed || self.stage.is_empty() {
            return Ok(());
        }
        // Writes only append: the file position is always at `written`.
        if let Err(e) = self.file.write_all(&self.stage) {
            self.failed = true;
            return Err(e);
        }
        self.written += self.stage.len() as u64;
        self.stage.clear();
        Ok(())
    }

    /// Reads the `len` bytes appended at `at` into `buf`.
    pub(crate) fn read(&mut self, at: u64, len: usize, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.resize(len, 0);
        if at >= self.written {
            let start = (at - self.written) as usize;
            let piece = self.stage.get(start..start + len).ok_or_else(|| {
                io::Error::other(format!("spill range {at}+{len} is beyond its end"))
            })?;
            buf.copy_from_slice(piece);
            return Ok(());
        }
        read_at(&mut self.file, at, buf)
    }
}

#[cfg(unix)]
fn read_at(file: &mut File, at: u64, buf: &mut [u8]) -> io::Result<()> {
    // One system call instead of a seek and a read.
    std::os::unix::fs::FileExt::read_exact_at(file, buf, at)
}

#[cfg(not(unix))]
fn read_at(file: &mut File, at: u64, buf: &mut [u8]) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_back_from_the_file_and_from_the_stage() {
        let mut f = SpillFile::new(tempfile::tempfile().expect("tempfile"));
        let mut pieces = Vec::new();
        for i in 0..8000u32 {
            let p: Vec<u8> = (0..(i % 700) as usize)
                .map(|j| (i as usize * 31 + j) as u8)
                .collect();
            let at = f.end();
            f.append(&p).expect("append");
            pieces.push((at, p));
        }
        assert!(f.written > 0, "some pieces went to the file");
        assert!(!f.stage.is_empty(), "the last ones are staged");
        let mut buf = Vec::new();
        for (at, p) in pieces.iter().rev() {
            f.read(*at, p.len(), &mut buf).expect("read");
            assert_eq!(&buf, p);
        }
        assert!(f.read(f.end(), 1, &mut buf).is_err());
    }

    /// The file is 0600 and has no name in the directory: no other user
    /// can open it (it holds decrypted payload text).
    #[cfg(unix)]
    #[test]
    fn the_file_is_private_and_nameless() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        // Under the usual umask (022) a plain create would be 0644.
        let mut f = SpillFile::create_in(dir.path()).expect("create");
        f.append(b"secret text").expect("append");
        let mode = f.file.metadata().expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert!(names.is_empty(), "left a name behind: {names:?}");
    }

    #[test]
    fn a_failed_write_keeps_the_bytes_readable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ro");
        std::fs::write(&path, b"").expect("create");
        // Opened read-only: every write fails.
        let mut f = SpillFile::new(File::open(&path).expect("open"));
        let big = vec![7u8; STAGE_BYTES + 10];
        assert!(f.append(&big).is_err());
        let at = f.end();
        f.append(b"after").expect("kept in the stage");
        let mut buf = Vec::new();
        f.read(at, 5, &mut buf).expect("read");
        assert_eq!(buf, b"after");
        f.read(0, big.len(), &mut buf).expect("read");
        assert_eq!(buf, big);
    }
}
