//! Bounded reads of the files pipec is told to read — `.pipe` sources and their imports,
//! compiled IR, `file(…)` values of secrets and params, a `pipeline` action's file — and of
//! the `$PIPEC_OUTPUT` file an action writes; the files of an output being captured are
//! opened through [`open_regular`] too (their size is not bounded: artifacts may be big).
//!
//! Only regular files are read: a FIFO would block until someone writes to it, and a device
//! such as `/dev/zero` never ends. The file is opened without blocking (`O_NONBLOCK`, which
//! a FIFO needs to open at all without a writer) and refused unless `fstat` says it is a
//! regular file, so the check and the read are about the same file. At most `limit` bytes
//! are read: a bigger file is refused without being read whole (its size says so, and the
//! read stops one byte past the limit should the file grow meanwhile).
#![allow(clippy::disallowed_methods)] // Reason: this module is where pipec reads such files.

use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

/// The most pipec reads from a `.pipe` file (the file given, each import, stdin).
pub const MAX_SOURCE: u64 = 16 << 20;
/// The most pipec reads from a compiled IR file (about ten times its source).
pub const MAX_IR: u64 = 256 << 20;
/// The most pipec reads from a `file(…)` source of a secret or a param (a value that big
/// cannot reach an action anyway: Linux takes at most 128 KiB per environment value).
pub const MAX_VALUE: u64 = 1 << 20;

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadError {
    /// The file system said no (it does not exist, permissions, …).
    Io(std::io::Error),
    /// It exists but is not a regular file: what it is ("a FIFO", "a character device", …).
    NotRegular(&'static str),
    /// It is bigger than the limit (in bytes).
    TooBig(u64),
    /// It is not UTF-8 text (where text was asked for).
    NotText,
}

impl ReadError {
    /// The file does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular(what) => write!(f, "it is not a regular file ({what})"),
            ReadError::TooBig(limit) => {
                write!(
                    f,
                    "it is bigger than {}, the most pipec reads from it",
                    size(*limit)
                )
            }
            ReadError::NotText => write!(f, "it is not UTF-8 text"),
        }
    }
}

/// A size as people read it: `16 MiB`, `1 MiB`, `512 KiB`, or bytes.
pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// What a file that is not a regular file is, in words.
pub fn kind(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// The regular file at `path`, open for reading (a FIFO is not waited for: refused).
pub fn open_regular(path: &Path) -> Result<(std::fs::File, std::fs::Metadata), ReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular(kind(meta.file_type())));
    }
    Ok((file, meta))
}

/// The bytes of the regular file at `path`, at most `limit` of them.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (file, meta) = open_regular(path)?;
    if meta.len() > limit {
        return Err(ReadError::TooBig(limit));
    }
    read_at_most(file, limit)
}

/// The text of the regular file at `path` (UTF-8), at most `limit` bytes of it.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read(path, limit)?).map_err(|_| ReadError::NotText)
}

/// Everything `reader` gives, unless that is more than `limit` bytes (stdin, or a file that
/// grew while it was read).
pub fn read_at_most(reader: impl std::io::Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(ReadError::Io)?;
    if out.len() as u64 > limit {
        return Err(ReadError::TooBig(limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{ReadError, read, read_at_most, read_text, size};

    #[test]
    fn only_regular_files_are_read_and_only_up_to_the_limit() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("f");
        std::fs::write(&file, "12345").expect("write");
        assert_eq!(read(&file, 5).expect("fits"), b"12345");
        assert!(matches!(read(&file, 4), Err(ReadError::TooBig(4))));
        assert!(matches!(
            read(Path::new("/dev/zero"), 5),
            Err(ReadError::NotRegular("a character device"))
        ));
        assert!(matches!(
            read(dir.path(), 5),
            Err(ReadError::NotRegular("a folder"))
        ));
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        assert!(matches!(
            read(&fifo, 5),
            Err(ReadError::NotRegular("a FIFO"))
        ));
        assert!(read(&dir.path().join("nope"), 5).is_err_and(|e| e.is_missing()));
        std::fs::write(&file, b"\xff").expect("write");
        assert!(matches!(read_text(&file, 5), Err(ReadError::NotText)));
        assert!(matches!(
            read_at_most(&b"123"[..], 2),
            Err(ReadError::TooBig(2))
        ));
        assert_eq!(size(16 << 20), "16 MiB");
        assert_eq!(size(122_880), "120 KiB");
        assert_eq!(size(100), "100 bytes");
    }
}
