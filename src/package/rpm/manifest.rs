//! What an rpm's header says about the package, turned into berth's terms: the manifest
//! (name, `[epoch:]version-release`, summary, `%config` files as `[[config]]`, header
//! fields, Requires and scriptlets under `[origin]`), the file list the payload is held to,
//! and how the payload is compressed and digested.

use super::payload::{Listed, Listing};
use crate::error::Unsafe;
use crate::package::compression::Compression;
use crate::package::extract::tar::TarError;
use crate::package::manifest::{Manifest, PathEntry};
use crate::package::native::{NativeOrigin, NATIVE_BIN};
use rpm::{DependencyFlags, DigestAlgorithm, FileFlags, FileType, IndexTag, PackageMetadata};

/// Everything the payload reader needs besides the bytes.
pub struct Described {
    /// The package's manifest.
    pub manifest: Manifest,
    /// The header's file list.
    pub listing: Listing,
    /// The payload's compression.
    pub compression: Compression,
    /// The sha256 of the compressed payload, when the header records it.
    pub payload_sha256: Option<String>,
}

fn bad(why: String) -> TarError {
    TarError::Member {
        member: "header".into(),
        why: Unsafe::RpmHeader(why),
    }
}

/// Reads the header's fields.
pub fn describe(meta: &PackageMetadata) -> Result<Described, TarError> {
    let h = &meta.header;
    let compression = payload_compression(meta)?;
    let name = meta.get_name().map_err(|e| bad(format!("name: {e}")))?;
    let version = meta
        .get_version()
        .map_err(|e| bad(format!("version: {e}")))?;
    let release = meta
        .get_release()
        .map_err(|e| bad(format!("release: {e}")))?;
    let epoch = meta.get_epoch().ok();
    let full = match epoch {
        Some(e) => format!("{e}:{version}-{release}"),
        None => format!("{version}-{release}"),
    };
    let mut manifest = Manifest::new(name, &full).map_err(|e| bad(e.to_string()))?;
    manifest.package.description = meta.get_summary().unwrap_or_default().to_string();
    manifest.exports.bin = NATIVE_BIN.iter().map(|s| s.to_string()).collect();
    let (listing, config) = listing(meta)?;
    manifest.config = config
        .iter()
        .map(|p| PathEntry::plain(p.trim_start_matches('/')))
        .collect();
    let arch = meta.get_arch().unwrap_or_default().to_string();
    let fields = origin_fields(meta, [name, version, release, &arch], epoch);
    let origin = NativeOrigin {
        format: "rpm".into(),
        architecture: arch,
        fields,
        scripts: scriptlets(meta),
        conffiles: config,
        requires: requires(meta)?,
        script_text: Default::default(),
    };
    manifest.origin = Some(origin.to_table());
    let payload_sha256 = h
        .get_entry_data_as_string_array(IndexTag::RPMTAG_PAYLOADSHA256)
        .ok()
        .and_then(|v| v.first().map(|d| d.to_ascii_lowercase()));
    Ok(Described {
        manifest,
        listing,
        compression,
        payload_sha256,
    })
}

/// The payload's compression, from the header (only cpio payloads are read).
fn payload_compression(meta: &PackageMetadata) -> Result<Compression, TarError> {
    let s = |t: IndexTag| {
        meta.header
            .get_entry_data_as_string(t)
            .ok()
            .map(str::to_string)
    };
    let format = s(IndexTag::RPMTAG_PAYLOADFORMAT).unwrap_or_else(|| "cpio".into());
    if format != "cpio" {
        return Err(bad(format!("payload format `{format}` is not cpio")));
    }
    Ok(match s(IndexTag::RPMTAG_PAYLOADCOMPRESSOR).as_deref() {
        None => Compression::None,
        Some("gzip") => Compression::Gzip,
        Some("xz") => Compression::Xz,
        Some("zstd") => Compression::Zstd,
        Some("bzip2") => Compression::Bzip2,
        Some("lzma") => Compression::Lzma,
        Some(other) => return Err(bad(format!("unknown payload compressor `{other}`"))),
    })
}

/// The header fields kept under `[origin.fields]`: name, version, release and arch first
/// (`nvra`), the epoch when there is one, then the descriptive tags the header has.
fn origin_fields(
    meta: &PackageMetadata,
    nvra: [&str; 4],
    epoch: Option<u32>,
) -> Vec<(String, String)> {
    let h = &meta.header;
    let mut fields: Vec<(String, String)> = ["Name", "Version", "Release", "Arch"]
        .iter()
        .zip(nvra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(e) = epoch {
        fields.push(("Epoch".into(), e.to_string()));
    }
    for (k, t) in [
        ("Summary", IndexTag::RPMTAG_SUMMARY),
        ("Description", IndexTag::RPMTAG_DESCRIPTION),
        ("License", IndexTag::RPMTAG_LICENSE),
        ("URL", IndexTag::RPMTAG_URL),
        ("Vendor", IndexTag::RPMTAG_VENDOR),
        ("Packager", IndexTag::RPMTAG_PACKAGER),
        ("Group", IndexTag::RPMTAG_GROUP),
        ("Source RPM", IndexTag::RPMTAG_SOURCERPM),
        ("Build Host", IndexTag::RPMTAG_BUILDHOST),
    ] {
        let v = h
            .get_entry_data_as_string(t)
            .or_else(|_| h.get_entry_data_as_i18n_string(t));
        if let Ok(v) = v {
            fields.push((k.to_string(), v.to_string()));
        }
    }
    fields
}

/// The scriptlets the package carries (berth never runs them).
fn scriptlets(meta: &PackageMetadata) -> Vec<String> {
    let mut out = Vec::new();
    for (name, present) in [
        ("%pretrans", meta.get_pre_trans_script().is_ok()),
        ("%pre", meta.get_pre_install_script().is_ok()),
        ("%post", meta.get_post_install_script().is_ok()),
        ("%preun", meta.get_pre_uninstall_script().is_ok()),
        ("%postun", meta.get_post_uninstall_script().is_ok()),
        ("%posttrans", meta.get_post_trans_script().is_ok()),
        ("%verifyscript", meta.get_verify_script().is_ok()),
        ("triggers", meta.get_triggers().is_ok_and(|t| !t.is_empty())),
        (
            "file triggers",
            meta.get_file_triggers().is_ok_and(|t| !t.is_empty()),
        ),
    ] {
        if present {
            out.push(name.to_string());
        }
    }
    out
}

/// Requires as `name [op version]`.
fn requires(meta: &PackageMetadata) -> Result<Vec<String>, TarError> {
    let deps = match meta.get_requires() {
        Ok(d) => d,
        Err(rpm::Error::TagNotFound(_)) => return Ok(vec![]),
        Err(e) => return Err(bad(format!("requires: {e}"))),
    };
    let mut out: Vec<String> = Vec::new();
    for text in deps.iter().map(show_dependency) {
        // Scriptlet interpreters repeat the same requirement once per scriptlet.
        if !out.contains(&text) {
            out.push(text);
        }
    }
    Ok(out)
}

/// `name [op version]`, as rpm writes a dependency.
fn show_dependency(d: &rpm::Dependency) -> String {
    let f = d.flags & (DependencyFlags::LESS | DependencyFlags::GREATER | DependencyFlags::EQUAL);
    let op = match f {
        x if x == DependencyFlags::LE => "<=",
        x if x == DependencyFlags::GE => ">=",
        x if x == DependencyFlags::LESS => "<",
        x if x == DependencyFlags::GREATER => ">",
        x if x == DependencyFlags::EQUAL => "=",
        _ => "",
    };
    if op.is_empty() || d.version.is_empty() {
        d.name.clone()
    } else {
        format!("{} {op} {}", d.name, d.version)
    }
}

/// The file list, and the `%config` regular files (absolute paths).
fn listing(meta: &PackageMetadata) -> Result<(Listing, Vec<String>), TarError> {
    let entries = meta
        .get_file_entries()
        .map_err(|e| bad(format!("file list: {e}")))?;
    let mut out = Listing::new();
    let mut config = Vec::new();
    for f in entries {
        let p = f.path();
        let abs = p
            .to_str()
            .ok_or_else(|| bad("a file name is not UTF-8".into()))?;
        let rel = plain_relative(abs).ok_or_else(|| {
            bad(format!(
                "file `{}` is not a plain absolute path",
                abs.escape_debug()
            ))
        })?;
        let kind = match f.file_type() {
            FileType::Regular => 0o100000,
            FileType::Dir => 0o040000,
            FileType::SymbolicLink => 0o120000,
            _ => 0o010000,
        };
        let sha256 = match f.digest() {
            Some(d) if d.algorithm() == DigestAlgorithm::Sha2_256 => {
                let mut b = [0u8; 32];
                hex::decode_to_slice(d.as_hex(), &mut b)
                    .map_err(|_| bad(format!("digest of `{abs}` is not hex")))?;
                Some(b)
            }
            _ => None,
        };
        let ghost = f.flags().contains(FileFlags::GHOST);
        if f.flags().contains(FileFlags::CONFIG) && kind == 0o100000 && !ghost {
            config.push(abs.to_string());
        }
        let listed = Listed {
            kind,
            size: f.size() as u64,
            ghost,
            sha256,
            linkto: f.linkto().unwrap_or_default().to_string(),
        };
        if out.insert(rel, listed).is_some() {
            return Err(bad(format!("file `{abs}` is listed twice")));
        }
    }
    Ok((out, config))
}

/// `/usr/bin/x` as `usr/bin/x`; `None` for `..`, `.`, empty components, control characters.
fn plain_relative(abs: &str) -> Option<String> {
    let rest = abs.strip_prefix('/')?;
    let ok = !rest.is_empty()
        && rest
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && !abs.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| rest.to_string())
}
