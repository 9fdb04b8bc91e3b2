//! A file that a download is still writing, read as it grows: the writer announces its
//! bytes ([`Growth`]) and the reader waits for them, so download, hashing and extraction
//! overlap and the bytes are read once.

use std::fs::File;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};

/// How far a file being written has come, shared between its writer and its reader.
#[derive(Debug, Default)]
pub struct Growth {
    state: Mutex<GrowthState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GrowthState {
    /// Bytes at the start of the file that are written.
    written: u64,
    /// Set when the writer is done: `Ok` when the file is whole, else why it is not.
    end: Option<std::result::Result<(), String>>,
}

impl Growth {
    /// A file nothing has been written to yet.
    pub fn new() -> Arc<Growth> {
        Arc::new(Growth::default())
    }

    /// The first `written` bytes are in the file (never goes back).
    pub fn grew(&self, written: u64) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.written = st.written.max(written);
        self.changed.notify_all();
    }

    /// The writer is done: the file is whole (`Ok`), or it failed and the reader must stop.
    pub fn end(&self, outcome: std::result::Result<(), String>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.end.get_or_insert(outcome);
        self.changed.notify_all();
    }

    /// Waits until byte `pos` is written or the writer is done; returns how many bytes are
    /// written then (at most `pos` only when the file ended there).
    pub(super) fn wait_beyond(&self, pos: u64) -> std::io::Result<u64> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if st.written > pos {
                return Ok(st.written);
            }
            match &st.end {
                Some(Ok(())) => return Ok(st.written),
                Some(Err(why)) => return Err(std::io::Error::other(why.clone())),
                None => st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }
}

/// A file read as its writer announces new bytes.
pub(super) struct GrowingFile {
    file: File,
    pos: u64,
    growth: Arc<Growth>,
}

impl GrowingFile {
    /// Reads `file` from its start as `growth` announces its bytes.
    pub(super) fn new(file: File, growth: Arc<Growth>) -> GrowingFile {
        GrowingFile {
            file,
            pos: 0,
            growth,
        }
    }
}

impl Read for GrowingFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        if buf.is_empty() {
            return Ok(0);
        }
        let written = self.growth.wait_beyond(self.pos)?;
        if written <= self.pos {
            return Ok(0);
        }
        let want = buf.len().min((written - self.pos) as usize);
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            // Announced but not readable: the file was cut behind the writer's back.
            return Err(std::io::Error::other(
                "the download's file is shorter than what was written to it",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}
