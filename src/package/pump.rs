//! Decoding beside reading: a slow decoder (xz decodes ~110 MB/s, bzip2 and gzip not much
//! faster) runs on its own thread and hands decoded chunks to the thread that parses the
//! archive, checks members and feeds the store's workers. On a .deb, xz alone was ~40% of
//! that thread's time; dpkg-deb gets the same overlap by piping its decompressor into tar.
//!
//! Memory stays bounded: at most [`DEPTH`] chunks of [`CHUNK`] bytes wait in the channel,
//! so a decompression bomb can run at most that far ahead of the size and ratio checks
//! (which stop the reader; the decoder thread then ends at its next send).

use std::io::Read;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::Scope;

/// Bytes per chunk handed over (large enough that the channel costs nothing per byte).
const CHUNK: usize = 128 << 10;
/// Chunks that may wait decoded.
const DEPTH: usize = 8;

/// The reading end: what the decoder thread produced, in order, then end of stream (or
/// the decoder's error, once).
pub struct Pumped {
    rx: Receiver<std::io::Result<Vec<u8>>>,
    /// Emptied chunks go back to the decoder thread, so the stream reuses a few buffers.
    spare: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

/// Starts decoding `r` on a thread of `scope`; read the result from the returned reader.
/// The thread ends at the end of `r`, at its first error, or when the reader is dropped.
pub fn pump<'scope, R>(scope: &'scope Scope<'scope, '_>, mut r: R) -> Pumped
where
    R: Read + Send + 'scope,
{
    let (tx, rx) = sync_channel::<std::io::Result<Vec<u8>>>(DEPTH);
    let (spare, spares) = sync_channel::<Vec<u8>>(DEPTH + 2);
    scope.spawn(move || loop {
        let mut buf = spares.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let mut n = 0;
        // Fill the chunk whole: decoders return a few KiB per call, and each message costs
        // a wake-up on the other side.
        while n < CHUNK {
            match r.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if n > 0 {
                        buf.truncate(n);
                        if tx.send(Ok(buf)).is_err() {
                            return;
                        }
                    }
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        if n == 0 {
            return;
        }
        buf.truncate(n);
        if tx.send(Ok(buf)).is_err() {
            return;
        }
    });
    Pumped {
        rx,
        spare,
        cur: Vec::new(),
        pos: 0,
    }
}

impl Read for Pumped {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos == self.cur.len() {
            let done = std::mem::take(&mut self.cur);
            // A full spare queue only means the decoder has enough buffers.
            let _ = self.spare.try_send(done);
            self.pos = 0;
            match self.rx.recv() {
                Ok(Ok(chunk)) => self.cur = chunk,
                Ok(Err(e)) => return Err(e),
                // The decoder thread ended: end of stream. (A panic there is re-raised when
                // the scope ends.)
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out `data` in odd-sized pieces, then fails if `fail` is set.
    struct Ragged {
        data: Vec<u8>,
        at: usize,
        fail: bool,
    }

    impl Read for Ragged {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.at == self.data.len() {
                return if self.fail {
                    Err(std::io::Error::other("decoder says no"))
                } else {
                    Ok(0)
                };
            }
            let n = buf.len().min(777).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn data() -> Vec<u8> {
        (0..CHUNK * 3 + 12345)
            .map(|i| (i * 31 % 251) as u8)
            .collect()
    }

    #[test]
    fn pumped_stream_is_the_same_bytes_in_order() {
        let d = data();
        let got = std::thread::scope(|s| {
            let mut p = pump(
                s,
                Ragged {
                    data: d.clone(),
                    at: 0,
                    fail: false,
                },
            );
            let mut v = Vec::new();
            p.read_to_end(&mut v).map(|_| v)
        });
        assert_eq!(got.ok(), Some(d));
    }

    #[test]
    fn decoder_error_reaches_the_reader_after_the_bytes_before_it() {
        let d = data();
        let (got, err) = std::thread::scope(|s| {
            let mut p = pump(
                s,
                Ragged {
                    data: d.clone(),
                    at: 0,
                    fail: true,
                },
            );
            let mut v = vec![0u8; d.len()];
            let first = p.read_exact(&mut v);
            let mut one = [0u8; 1];
            (first.map(|_| v), p.read(&mut one).err())
        });
        assert_eq!(got.ok(), Some(d));
        assert_eq!(err.map(|e| e.to_string()), Some("decoder says no".into()));
    }

    #[test]
    fn dropping_the_reader_early_ends_the_decoder_thread() {
        // An endless source: the scope can only end if the thread stops on its own.
        struct Endless;
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                buf.fill(7);
                Ok(buf.len())
            }
        }
        let first = std::thread::scope(|s| {
            let mut p = pump(s, Endless);
            let mut b = [0u8; 10];
            p.read_exact(&mut b).map(|_| b[0])
        });
        assert_eq!(first.ok(), Some(7));
    }
}
