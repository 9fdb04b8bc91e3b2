//! Reading a file a user or a repository directory names (a key, a signature, a `file://`
//! index): opened without blocking and refused unless it is a regular file, read up to a
//! cap. A FIFO or a device named as an index would otherwise hang a command that holds the
//! root's lock, blocking every other change.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` for reading if it is a regular file (a FIFO, socket, device or directory is
/// [`Error::InputNotRegular`]; a missing one [`Error::InputNotFound`]).
pub fn open_input(path: &Path) -> Result<File> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        // A FIFO with no writer must not block the open itself.
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::InputNotFound {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let ft = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .file_type();
    if !ft.is_file() {
        return Err(Error::InputNotRegular {
            path: path.to_path_buf(),
            kind: kind_name(&ft),
        });
    }
    Ok(file)
}

/// The bytes of the regular file at `path`, at most `cap` of them
/// ([`Error::FileTooLarge`] beyond).
pub fn read_input(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let file = open_input(path)?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    if bytes.len() as u64 > cap {
        return Err(Error::FileTooLarge {
            path: path.to_path_buf(),
            limit: cap,
        });
    }
    Ok(bytes)
}

/// What a file that is not regular is, for [`Error::InputNotRegular`].
pub fn kind_name(ft: &std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a fifo"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "a socket"
    }
}

/// [`read_input`] as UTF-8 text (invalid UTF-8 is an I/O error naming the path).
pub fn read_input_text(path: &Path, cap: u64) -> Result<String> {
    String::from_utf8(read_input(path, cap)?).map_err(|_| {
        Error::io(
            "read",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking_and_a_file_is_capped() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(
            read_input(&fifo, 10),
            Err(Error::InputNotRegular { kind: "a fifo", .. })
        ));
        let f = d.path().join("f");
        std::fs::write(&f, b"0123456789x").unwrap();
        assert!(matches!(
            read_input(&f, 10),
            Err(Error::FileTooLarge { .. })
        ));
        assert_eq!(read_input(&f, 11).unwrap(), b"0123456789x");
        assert!(matches!(
            read_input(&d.path().join("none"), 1),
            Err(Error::InputNotFound { .. })
        ));
    }
}
