//! The seekable `.berth`: still one plain `.tar.zst` (`tar -I zstd -xf` reads it), but cut
//! into zstd frames at member boundaries, with the zstd seekable-format seek table in a
//! trailing skippable frame (which ordinary decoders skip). Knowing where each frame ends
//! lets an install skip, undecoded, the data of a member whose content the store already
//! has. Format: facebook/zstd contrib/seekable_format/zstd_seekable_compression_format.md.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use zstd::stream::raw::{CParameter, DParameter, Decoder, Encoder, InBuffer, Operation, OutBuffer};

/// Magic of the skippable frame that holds the seek table.
const SKIPPABLE_MAGIC: u32 = 0x184D_2A5E;
/// Magic at the very end of the seek table's footer.
const SEEKABLE_MAGIC: u32 = 0x8F92_EAB1;
/// Footer: number of frames (4), descriptor (1), magic (4).
const FOOTER: u64 = 9;
/// The most frames a table may list (the reference implementation's limit).
const MAX_FRAMES: u64 = 0x800_0000;
/// No frame holds more than this many decompressed bytes (the format's sizes are 32-bit;
/// this is the reference implementation's limit).
const MAX_FRAME_DECOMPRESSED: u64 = 1 << 30;

/// One frame: its compressed and decompressed sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Bytes of the zstd frame in the file.
    pub compressed: u64,
    /// Bytes it decodes to.
    pub decompressed: u64,
}

/// The seek table of a file: its frames in order, and the table's own length at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeekTable {
    /// The zstd frames, from offset 0.
    pub frames: Vec<Frame>,
    /// Bytes of the skippable frame holding the table (the file's last bytes).
    pub table_len: u64,
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

impl SeekTable {
    /// Reads the table at the end of `file` (`size` bytes). `None` when there is none or it
    /// does not describe the file exactly (then the file is read as a plain stream, every
    /// byte decoded and checked, as before seekable packages existed).
    pub fn read(file: &std::fs::File, size: u64) -> Option<SeekTable> {
        let at = |off: u64, len: u64| -> Option<Vec<u8>> {
            let mut buf = vec![0u8; usize::try_from(len).ok()?];
            file.read_exact_at(&mut buf, off).ok()?;
            Some(buf)
        };
        if size < FOOTER + 8 {
            return None;
        }
        let footer = at(size - FOOTER, FOOTER)?;
        if le32(&footer, 5) != u64::from(SEEKABLE_MAGIC) {
            return None;
        }
        let n = le32(&footer, 0);
        let desc = footer[4];
        if desc & 0x7c != 0 || n == 0 || n > MAX_FRAMES {
            return None;
        }
        let entry = if desc & 0x80 != 0 { 12 } else { 8 };
        let table_len = 8 + n * entry + FOOTER;
        if table_len > size {
            return None;
        }
        let body = at(size - table_len, table_len - FOOTER)?;
        Self::from_parts(&body, &footer, size)
    }

    /// Reads a table from `tail`, the last bytes of a file of `size` bytes: exactly the
    /// table's skippable frame (as a range request fetched it). `None` when they are not
    /// one that describes such a file exactly.
    pub fn parse(tail: &[u8], size: u64) -> Option<SeekTable> {
        let n = tail.len();
        if (n as u64) < FOOTER + 8 || n as u64 > size {
            return None;
        }
        let (body, footer) = tail.split_at(n - FOOTER as usize);
        let t = Self::from_parts(body, footer, size)?;
        (t.table_len == n as u64).then_some(t)
    }

    /// The table from its skippable frame's body (magic, size, entries) and its footer.
    fn from_parts(body: &[u8], footer: &[u8], size: u64) -> Option<SeekTable> {
        if le32(footer, 5) != u64::from(SEEKABLE_MAGIC) {
            return None;
        }
        let n = le32(footer, 0);
        let desc = footer[4];
        if desc & 0x7c != 0 || n == 0 || n > MAX_FRAMES {
            return None;
        }
        let entry = if desc & 0x80 != 0 { 12 } else { 8 };
        let table_len = 8 + n * entry + FOOTER;
        if table_len > size || body.len() as u64 != table_len - FOOTER {
            return None;
        }
        if le32(body, 0) != u64::from(SKIPPABLE_MAGIC) || le32(body, 4) != table_len - 8 {
            return None;
        }
        let frames: Vec<Frame> = body[8..]
            .chunks_exact(entry as usize)
            .map(|e| Frame {
                compressed: le32(e, 0),
                decompressed: le32(e, 4),
            })
            .collect();
        let total: u64 = frames.iter().map(|f| f.compressed).sum();
        (total + table_len == size && frames.iter().all(|f| f.compressed > 0))
            .then_some(SeekTable { frames, table_len })
    }

    /// The skippable frame holding this table (no per-frame checksums: every frame carries
    /// zstd's own content checksum, and members carry their sha256 in the file list).
    fn encode(frames: &[Frame]) -> io::Result<Vec<u8>> {
        let n = u32::try_from(frames.len()).map_err(|_| io::Error::other("too many frames"))?;
        let mut out = Vec::with_capacity(frames.len() * 8 + 17);
        out.extend_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
        let body = u32::try_from(frames.len() as u64 * 8 + FOOTER)
            .map_err(|_| io::Error::other("seek table too large"))?;
        out.extend_from_slice(&body.to_le_bytes());
        for f in frames {
            let c = u32::try_from(f.compressed).map_err(|_| io::Error::other("frame too large"))?;
            let d =
                u32::try_from(f.decompressed).map_err(|_| io::Error::other("frame too large"))?;
            out.extend_from_slice(&c.to_le_bytes());
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&n.to_le_bytes());
        out.push(0);
        out.extend_from_slice(&SEEKABLE_MAGIC.to_le_bytes());
        Ok(out)
    }
}

/// Compresses into consecutive zstd frames, cut where the caller says ([`end_frame`]), and
/// ends with the seek table ([`finish`]). Cheap to clone: `tar::Builder` writes through one
/// clone while the member's data reader holds another to end the header's block.
///
/// [`end_frame`]: FrameWriter::end_frame
/// [`finish`]: FrameWriter::finish
pub struct FrameWriter<W: Write>(Rc<std::cell::RefCell<Frames<W>>>);

impl<W: Write> Clone for FrameWriter<W> {
    fn clone(&self) -> Self {
        FrameWriter(self.0.clone())
    }
}

struct Frames<W: Write> {
    out: W,
    enc: Encoder<'static>,
    scratch: Vec<u8>,
    current: Frame,
    done: Vec<Frame>,
}

impl<W: Write> Frames<W> {
    /// Drives the encoder with `step` until it reports nothing left, writing its output.
    fn drain(
        &mut self,
        mut step: impl FnMut(&mut Encoder<'static>, &mut OutBuffer<'_, [u8]>) -> io::Result<usize>,
    ) -> io::Result<()> {
        loop {
            let mut out = OutBuffer::around(&mut self.scratch[..]);
            let left = step(&mut self.enc, &mut out)?;
            let n = out.pos();
            self.out.write_all(&self.scratch[..n])?;
            self.current.compressed += n as u64;
            if left == 0 {
                return Ok(());
            }
        }
    }

    fn compress(&mut self, data: &[u8]) -> io::Result<()> {
        let mut input = InBuffer::around(data);
        while input.pos() < data.len() {
            let mut out = OutBuffer::around(&mut self.scratch[..]);
            self.enc.run(&mut input, &mut out)?;
            let n = out.pos();
            self.out.write_all(&self.scratch[..n])?;
            self.current.compressed += n as u64;
        }
        self.current.decompressed += data.len() as u64;
        Ok(())
    }

    fn end_frame(&mut self) -> io::Result<()> {
        if self.current.decompressed == 0 {
            return Ok(());
        }
        self.drain(|e, o| e.finish(o, true))?;
        self.done.push(self.current);
        self.current = Frame {
            compressed: 0,
            decompressed: 0,
        };
        self.enc.reinit()
    }
}

impl<W: Write> FrameWriter<W> {
    /// Compresses at `level` with zstd's content checksum in every frame.
    pub fn new(out: W, level: i32) -> io::Result<Self> {
        let mut enc = Encoder::new(level)?;
        enc.set_parameter(CParameter::ChecksumFlag(true))?;
        Ok(FrameWriter(Rc::new(std::cell::RefCell::new(Frames {
            out,
            enc,
            scratch: vec![0; zstd::zstd_safe::CCtx::out_size()],
            current: Frame {
                compressed: 0,
                decompressed: 0,
            },
            done: Vec::new(),
        }))))
    }

    /// Decompressed bytes in the frame being written.
    pub fn frame_len(&self) -> u64 {
        self.0.borrow().current.decompressed
    }

    /// Ends the current frame (nothing when it is empty).
    pub fn end_frame(&self) -> io::Result<()> {
        self.0.borrow_mut().end_frame()
    }

    /// Ends the current block, so what was written so far decodes without what follows.
    pub fn end_block(&self) -> io::Result<()> {
        self.0.borrow_mut().drain(|e, o| e.flush(o))
    }

    /// Writes `bytes`, one whole zstd frame made elsewhere (and checked by the caller) that
    /// decodes to `decompressed` bytes, as the next frame. Only between frames.
    pub fn raw_frame(&self, bytes: &[u8], decompressed: u64) -> io::Result<()> {
        let mut f = self.0.borrow_mut();
        if f.current.decompressed != 0 {
            return Err(io::Error::other("a raw frame in the middle of a frame"));
        }
        f.out.write_all(bytes)?;
        f.done.push(Frame {
            compressed: bytes.len() as u64,
            decompressed,
        });
        Ok(())
    }

    /// Ends the last frame, appends the seek table and hands back the writer.
    pub fn finish(self) -> io::Result<W> {
        let cell = Rc::try_unwrap(self.0)
            .map_err(|_| io::Error::other("frame writer still shared at finish"))?;
        let mut f = cell.into_inner();
        f.end_frame()?;
        let table = SeekTable::encode(&f.done)?;
        f.out.write_all(&table)?;
        Ok(f.out)
    }
}

impl<W: Write> Write for FrameWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut f = self.0.borrow_mut();
        // Sizes in the table are 32-bit: a frame never grows past the format's limit.
        if f.current.decompressed >= MAX_FRAME_DECOMPRESSED {
            f.end_frame()?;
        }
        let room = MAX_FRAME_DECOMPRESSED - f.current.decompressed;
        let n = data.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        f.compress(&data[..n])?;
        Ok(n)
    }
    /// Frames and blocks end only where the packer says (the output stays reproducible).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads `inner` after ending the writer's current block first: a member's header then
/// decodes without its data, so an install that skips the data never decodes any of it.
pub struct BlockAfterHeader<R, W: Write> {
    /// The member's data.
    pub inner: R,
    /// The writer whose block ends before the first byte of data.
    pub frames: Option<FrameWriter<W>>,
}

impl<R: Read, W: Write> Read for BlockAfterHeader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(f) = self.frames.take() {
            f.end_block()?;
        }
        self.inner.read(buf)
    }
}

/// A request, from the reader of the tar stream to the [`FramedDecoder`] under it: "the next
/// N decoded bytes will be thrown away". Shared by the two; 0 means none.
#[derive(Debug, Clone, Default)]
pub struct SkipRequest(Rc<Cell<u64>>);

impl SkipRequest {
    /// Asks to skip the next `n` decoded bytes (a member's data and its padding).
    pub fn ask(&self, n: u64) {
        self.0.set(n);
    }
    fn take(&self) -> u64 {
        self.0.replace(0)
    }
}

/// Decodes a seekable zstd file frame by frame, holding each frame to the sizes its table
/// gives. When asked to skip exactly the rest of a frame (or of several), it reads their
/// compressed bytes through (so the artifact is still hashed whole) without decoding them,
/// and yields zeros in their place for the tar reader to discard.
pub struct FramedDecoder<R> {
    raw: R,
    table: SeekTable,
    dec: Decoder<'static>,
    skip: SkipRequest,
    inbuf: Vec<u8>,
    in_pos: usize,
    in_len: usize,
    /// Index of the frame being decoded.
    frame: usize,
    /// Compressed bytes of that frame read from `raw` so far.
    fed: u64,
    /// Decoded bytes of that frame handed out so far.
    produced: u64,
    /// Zeros still to hand out for skipped data.
    zeros: u64,
    /// Bytes skipped undecoded (for the install's debug log).
    pub skipped: u64,
    done: bool,
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl<R: Read> FramedDecoder<R> {
    /// Decodes `raw` (positioned at the file's start) as `table` describes it.
    pub fn new(
        raw: R,
        table: SeekTable,
        skip: SkipRequest,
        window_log_max: u32,
    ) -> io::Result<Self> {
        let mut dec = Decoder::new()?;
        dec.set_parameter(DParameter::WindowLogMax(window_log_max))?;
        Ok(FramedDecoder {
            raw,
            table,
            dec,
            skip,
            inbuf: vec![0; 128 << 10],
            in_pos: 0,
            in_len: 0,
            frame: 0,
            fed: 0,
            produced: 0,
            zeros: 0,
            skipped: 0,
            done: false,
        })
    }

    /// Reads and drops `n` raw bytes (they still pass the artifact's hash).
    fn discard(&mut self, mut n: u64) -> io::Result<()> {
        while n > 0 {
            let want = n.min(self.inbuf.len() as u64) as usize;
            let got = self.raw.read(&mut self.inbuf[..want])?;
            if got == 0 {
                return Err(bad("the file ends inside a zstd frame".into()));
            }
            n -= got as u64;
        }
        Ok(())
    }

    /// Skips `n` decoded bytes undecoded when they are exactly the rest of the current frame
    /// and zero or more whole frames after it; otherwise they are decoded (and dropped by
    /// the caller) as usual.
    fn try_skip(&mut self, n: u64) -> io::Result<bool> {
        let frames = &self.table.frames;
        let Some(cur) = frames.get(self.frame) else {
            return Ok(false);
        };
        let rest = cur.decompressed - self.produced;
        if n < rest {
            return Ok(false);
        }
        let mut need = n - rest;
        let mut raw = cur.compressed - self.fed;
        let mut next = self.frame + 1;
        while need > 0 {
            match frames.get(next) {
                Some(f) if f.decompressed <= need => {
                    need -= f.decompressed;
                    raw += f.compressed;
                    next += 1;
                }
                _ => return Ok(false),
            }
        }
        self.discard(raw)?;
        self.in_pos = 0;
        self.in_len = 0;
        self.dec.reinit()?;
        self.frame = next;
        self.fed = 0;
        self.produced = 0;
        self.zeros = n;
        self.skipped += n;
        Ok(true)
    }

    /// After the last frame: the table's skippable frame, then the end of the file.
    fn trailer(&mut self) -> io::Result<()> {
        self.discard(self.table.table_len)?;
        let mut one = [0u8; 1];
        if self.raw.read(&mut one)? != 0 {
            return Err(bad("data after the seek table".into()));
        }
        self.done = true;
        tracing::debug!(
            frames = self.table.frames.len(),
            skipped = self.skipped,
            "seekable package read; bytes of pooled members skipped undecoded"
        );
        Ok(())
    }
}

impl<R: Read> Read for FramedDecoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let asked = self.skip.take();
        if asked > 0 && self.zeros == 0 {
            self.try_skip(asked)?;
        }
        if self.zeros > 0 {
            let n = self.zeros.min(buf.len() as u64) as usize;
            buf[..n].fill(0);
            self.zeros -= n as u64;
            return Ok(n);
        }
        loop {
            if self.done {
                return Ok(0);
            }
            let Some(cur) = self.table.frames.get(self.frame).copied() else {
                self.trailer()?;
                return Ok(0);
            };
            if self.in_pos == self.in_len && self.fed < cur.compressed {
                let want = (cur.compressed - self.fed).min(self.inbuf.len() as u64) as usize;
                let got = self.raw.read(&mut self.inbuf[..want])?;
                if got == 0 {
                    return Err(bad("the file ends inside a zstd frame".into()));
                }
                self.fed += got as u64;
                self.in_pos = 0;
                self.in_len = got;
            }
            let mut input = InBuffer::around(&self.inbuf[self.in_pos..self.in_len]);
            let mut out = OutBuffer::around(&mut *buf);
            let hint = self.dec.run(&mut input, &mut out)?;
            let (used, n) = (input.pos(), out.pos());
            self.in_pos += used;
            self.produced += n as u64;
            if self.produced > cur.decompressed {
                return Err(bad(format!(
                    "zstd frame {} decodes to more than the {} bytes its seek table gives",
                    self.frame, cur.decompressed
                )));
            }
            if hint == 0 {
                if self.in_pos != self.in_len
                    || self.fed != cur.compressed
                    || self.produced != cur.decompressed
                {
                    return Err(bad(format!(
                        "zstd frame {} does not match its seek table entry",
                        self.frame
                    )));
                }
                self.frame += 1;
                self.fed = 0;
                self.produced = 0;
                self.in_pos = 0;
                self.in_len = 0;
                self.dec.reinit()?;
            } else if used == 0
                && n == 0
                && self.in_pos == self.in_len
                && self.fed == cur.compressed
            {
                return Err(bad(format!(
                    "zstd frame {} ends before its seek table says",
                    self.frame
                )));
            }
            if n > 0 {
                return Ok(n);
            }
        }
    }
}

/// Decodes `bytes`, which must be exactly one zstd frame (its content checksum checked by
/// zstd) of exactly `decompressed` bytes, as the seek table says.
pub fn decode_frame(bytes: &[u8], decompressed: u64) -> io::Result<Vec<u8>> {
    if decompressed > MAX_FRAME_DECOMPRESSED {
        return Err(bad(format!("a frame of {decompressed} bytes is too large")));
    }
    let mut dec = Decoder::new()?;
    dec.set_parameter(DParameter::WindowLogMax(
        super::compression::ZSTD_WINDOW_LOG_MAX,
    ))?;
    let mut out = vec![0u8; decompressed as usize + 1];
    let mut input = InBuffer::around(bytes);
    let mut produced = 0usize;
    loop {
        let mut o = OutBuffer::around(&mut out[produced..]);
        let hint = dec.run(&mut input, &mut o)?;
        let n = o.pos();
        produced += n;
        if hint == 0 {
            break;
        }
        if produced > decompressed as usize {
            return Err(bad(format!(
                "the frame decodes to more than the {decompressed} bytes its seek table gives"
            )));
        }
        if n == 0 && input.pos() == bytes.len() {
            return Err(bad("the frame ends early".into()));
        }
    }
    if input.pos() != bytes.len() {
        return Err(bad("bytes after the end of the frame".into()));
    }
    if produced != decompressed as usize {
        return Err(bad(format!(
            "the frame decodes to {produced} bytes, its seek table gives {decompressed}"
        )));
    }
    out.truncate(produced);
    Ok(out)
}
