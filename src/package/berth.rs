//! Reading the `.berth` format: a tar whose first members are `.berth/manifest.toml` and
//! `.berth/files`, then the payload. Every payload member is held to its listed type, mode
//! and size here; its content to the listed sha256 by the sink, which hashes while it writes.

use super::extract::tar::TarTarget;
use super::listing::{FileList, FileMode, Record};
use super::manifest::Manifest;
use super::seekable::SkipRequest;
use super::sink::{Begin, Sink, SinkError};
use crate::error::Unsafe;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Checks a `.berth` archive's members against its own list on their way to `inner`.
pub struct BerthReader<'s> {
    inner: &'s mut dyn Sink,
    manifest_path: PathBuf,
    /// The manifest, once read.
    pub manifest: Option<Manifest>,
    list: Option<FileList>,
    seen: BTreeSet<String>,
    hardlinks: Vec<(String, String)>,
    /// For a seekable package: where to ask for a member's data to be skipped undecoded.
    skip: Option<SkipRequest>,
}

impl<'s> BerthReader<'s> {
    /// A reader feeding `inner`; `archive` names the package in messages.
    pub fn new(inner: &'s mut dyn Sink, archive: &Path) -> Self {
        BerthReader {
            inner,
            manifest_path: archive.join(".berth/manifest.toml"),
            manifest: None,
            list: None,
            seen: BTreeSet::new(),
            hardlinks: Vec::new(),
            skip: None,
        }
    }

    /// Reads a seekable package: a member whose listed content the sink already holds is
    /// placed from there, and its data skipped through `skip` (see [`super::seekable`]).
    /// The entry stays what the list says, byte for byte: the list is what its id hashes.
    pub fn seekable(mut self, skip: SkipRequest) -> Self {
        self.skip = Some(skip);
        self
    }

    fn listed(&mut self, path: &str, got: &Record) -> Result<Option<[u8; 32]>, SinkError> {
        let list = self
            .list
            .as_ref()
            .ok_or(SinkError::Refused(Unsafe::ListMismatch(
                "payload before .berth/manifest.toml and .berth/files".into(),
            )))?;
        let want = list
            .records
            .get(path)
            .ok_or(SinkError::Refused(Unsafe::Unlisted))?;
        self.seen.insert(path.to_string());
        match (want, got) {
            (Record::Dir, Record::Dir) => Ok(None),
            (Record::Symlink { target: a }, Record::Symlink { target: b }) if a == b => Ok(None),
            (
                Record::File { mode, size, sha256 },
                Record::File {
                    mode: e2, size: s2, ..
                },
            ) if mode == e2 && size == s2 => Ok(Some(*sha256)),
            (w, g) => Err(SinkError::Refused(Unsafe::ListMismatch(format!(
                "listed as {}, archive has {}",
                w.describe(),
                g.describe()
            )))),
        }
    }
}

impl TarTarget for BerthReader<'_> {
    fn meta(&mut self, name: &str, data: Vec<u8>) -> Result<(), SinkError> {
        if name.is_empty() {
            return Ok(()); // the `.berth/` directory itself
        }
        let text = String::from_utf8(data).map_err(|_| SinkError::Refused(Unsafe::NonUtf8))?;
        match name {
            "manifest.toml" if self.manifest.is_none() => {
                self.manifest = Some(Manifest::parse(&text, &self.manifest_path)?);
                Ok(())
            }
            "files" if self.list.is_none() && self.manifest.is_some() => {
                let list = FileList::parse(&text).map_err(|e| {
                    SinkError::Refused(Unsafe::BadHeader(format!(".berth/files {e}")))
                })?;
                self.list = Some(list);
                Ok(())
            }
            "manifest.toml" if self.manifest.is_some() => {
                Err(SinkError::Refused(Unsafe::Duplicate))
            }
            "files" if self.list.is_some() => Err(SinkError::Refused(Unsafe::Duplicate)),
            "manifest.toml" | "files" => Err(SinkError::Refused(Unsafe::ListMismatch(
                "expected .berth/manifest.toml, then .berth/files".into(),
            ))),
            _ => Err(SinkError::Refused(Unsafe::Reserved)),
        }
    }

    fn payload_start(&mut self) -> Result<Begin, SinkError> {
        let (Some(m), Some(l)) = (&self.manifest, &self.list) else {
            return Err(SinkError::Refused(Unsafe::ListMismatch(
                "payload before .berth/manifest.toml and .berth/files".into(),
            )));
        };
        self.inner.begin(m, Some(l))
    }
}

impl Sink for BerthReader<'_> {
    fn begin(&mut self, m: &Manifest, l: Option<&FileList>) -> Result<Begin, SinkError> {
        self.inner.begin(m, l)
    }
    fn dir(&mut self, path: &str) -> Result<(), SinkError> {
        self.listed(path, &Record::Dir)?;
        self.inner.dir(path)
    }
    fn file(
        &mut self,
        path: &str,
        mode: FileMode,
        size: u64,
        data: &mut dyn Read,
        _expected: Option<[u8; 32]>,
    ) -> Result<(), SinkError> {
        let got = Record::File {
            mode,
            size,
            sha256: [0; 32],
        };
        let want = self.listed(path, &got)?;
        if let (Some(skip), Some(sha)) = (&self.skip, &want) {
            if size < super::pack::OWN_FRAME {
                // Its data shares a frame and is decoded whatever happens: let the sink
                // decide off this thread, so the links of unchanged files run in parallel.
                return self.inner.file_or_pooled(path, mode, size, data, *sha);
            }
            if size > 0 && self.inner.try_link_pooled(path, mode, size, sha)? {
                // The tar reader next drops the data and its padding to the block.
                skip.ask(size.div_ceil(512) * 512);
                return Ok(());
            }
        }
        self.inner.file(path, mode, size, data, want)
    }
    fn symlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        self.listed(
            path,
            &Record::Symlink {
                target: target.to_string(),
            },
        )?;
        self.inner.symlink(path, target)
    }
    fn hardlink(&mut self, path: &str, target: &str) -> Result<(), SinkError> {
        // The listed record of a hard link is its target's; checked once both are known.
        self.hardlinks.push((path.to_string(), target.to_string()));
        self.inner.hardlink(path, target)
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        self.inner.finish()?;
        let Some(list) = &self.list else {
            return Ok(());
        };
        for (path, target) in std::mem::take(&mut self.hardlinks) {
            let named = |why| SinkError::RefusedMember {
                member: path.clone(),
                why,
            };
            let want = list
                .records
                .get(&path)
                .ok_or_else(|| named(Unsafe::Unlisted))?;
            let got = list.records.get(&target);
            if got != Some(want) || !matches!(want, Record::File { .. }) {
                return Err(named(Unsafe::ListMismatch(format!(
                    "listed as {}, archive links it to `{target}`",
                    want.describe()
                ))));
            }
            self.seen.insert(path);
        }
        if let Some(missing) = list.records.keys().find(|k| !self.seen.contains(*k)) {
            return Err(SinkError::RefusedMember {
                member: missing.clone(),
                why: Unsafe::ListMismatch("listed but absent from the archive".into()),
            });
        }
        Ok(())
    }
}
