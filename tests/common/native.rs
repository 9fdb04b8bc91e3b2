//! Helpers of the native-package tests: real .deb files built with `dpkg-deb --build`,
//! real .rpm files built with `rpmbuild`, an `ar` reader and writer and a small ustar
//! writer to take packages apart and put hostile ones together, and a fake dpkg status
//! file. (A tool that is missing: the one rule of `tools.rs`.)

use super::tools::tool_text;
use std::path::{Path, PathBuf};
use std::process::Command;

fn write(path: &Path, content: &[u8], mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// What a test .deb holds besides its name and version.
#[derive(Debug, Clone, Default)]
pub struct Deb<'a> {
    /// `xz`, `zstd`, `gzip` or `none`.
    pub compression: &'a str,
    /// Ship `/etc/<name>/<name>.conf` as a conffile.
    pub conffile: bool,
    /// A `Depends` field.
    pub depends: Option<&'a str>,
    /// A `Provides` field.
    pub provides: Option<&'a str>,
    /// Ship a `postinst` script that would create `<dir>/postinst-ran`: it runs confined
    /// when a profile uses the package, so that file never appears on the host.
    pub postinst: bool,
    /// A `postinst` of this text instead (run confined when a profile uses the package).
    pub postinst_text: Option<&'a str>,
    /// More regular files: (path in the package, mode, content).
    pub files: &'a [(&'a str, u32, &'a [u8])],
    /// Symlinks: (path in the package, target as written, absolute ones included).
    pub symlinks: &'a [(&'a str, &'a str)],
}

/// Builds `<name>_<version>_all.deb` in `dir` with `dpkg-deb --build`: `usr/bin/<name>`
/// printing `<name> <version>`, `usr/share/<name>/VERSION`, md5sums of the `usr/` files.
pub fn build_deb(dir: &Path, name: &str, version: &str, d: &Deb) -> PathBuf {
    let tree = dir.join("debsrc").join(format!("{name}-{version}"));
    write(
        &tree.join(format!("usr/bin/{name}")),
        format!("#!/bin/sh\necho \"{name} {version}\"\n").as_bytes(),
        0o755,
    );
    write(
        &tree.join(format!("usr/share/{name}/VERSION")),
        format!("{version}\n").as_bytes(),
        0o644,
    );
    let mut control = format!(
        "Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: berth tests <tests@example.org>\n"
    );
    if let Some(dep) = d.depends {
        control.push_str(&format!("Depends: {dep}\n"));
    }
    if let Some(p) = d.provides {
        control.push_str(&format!("Provides: {p}\n"));
    }
    control.push_str(&format!(
        "Description: berth test package {name}\n Built by the berth test suite.\n .\n Second paragraph.\n"
    ));
    write(&tree.join("DEBIAN/control"), control.as_bytes(), 0o644);
    if d.conffile {
        write(
            &tree.join(format!("etc/{name}/{name}.conf")),
            b"color = blue\n",
            0o644,
        );
        write(
            &tree.join("DEBIAN/conffiles"),
            format!("/etc/{name}/{name}.conf\n").as_bytes(),
            0o644,
        );
    }
    for (path, mode, content) in d.files {
        write(&tree.join(path), content, *mode);
    }
    for (path, target) in d.symlinks {
        let at = tree.join(path);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, at).unwrap();
    }
    if let Some(text) = d.postinst_text {
        write(&tree.join("DEBIAN/postinst"), text.as_bytes(), 0o755);
    }
    if d.postinst {
        write(
            &tree.join("DEBIAN/postinst"),
            format!(
                "#!/bin/sh\ntouch '{}'\n",
                dir.join("postinst-ran").display()
            )
            .as_bytes(),
            0o755,
        );
    }
    let sums = tool_text(
        &tree,
        "sh",
        &["-c", "find usr -type f | sort | xargs md5sum"],
    );
    write(&tree.join("DEBIAN/md5sums"), sums.as_bytes(), 0o644);
    let upstream = version.split_once(':').map_or(version, |(_, v)| v);
    let out = dir.join(format!("{name}_{upstream}_all.deb"));
    let z = format!(
        "-Z{}",
        if d.compression.is_empty() {
            "xz"
        } else {
            d.compression
        }
    );
    tool_text(
        dir,
        "dpkg-deb",
        &[
            "--root-owner-group",
            &z,
            "--build",
            tree.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
    out
}

/// What a test .rpm holds besides its name and version.
#[derive(Debug, Clone, Default)]
pub struct Rpm<'a> {
    /// An `Epoch`.
    pub epoch: Option<u32>,
    /// rpm's payload setting: `w9.xzdio`, `w19.zstdio`, `w9.gzdio`, `w.ufdio` (none).
    pub payload: &'a str,
}

/// Builds `<name>-<version>-<release>.noarch.rpm` with `rpmbuild` (a private `_topdir`, so it
/// works unprivileged): `usr/bin/<name>`, `usr/share/<name>/VERSION` hard-linked to
/// `VERSION.link`, a symlink `current -> VERSION`, `%config /etc/<name>/<name>.conf`,
/// `Requires`, and a `%post` scriptlet (which must never run).
pub fn build_rpm(dir: &Path, name: &str, version: &str, release: &str, r: &Rpm) -> PathBuf {
    let top = dir.join("rpmtop");
    let post_marker = dir.join("post-ran").display().to_string();
    let epoch = r.epoch.map(|e| format!("Epoch: {e}\n")).unwrap_or_default();
    let spec = format!(
        "Name: {name}\nVersion: {version}\nRelease: {release}\n{epoch}Summary: berth test package {name}\n\
License: MIT\nBuildArch: noarch\nRequires: /bin/sh\nRequires: coreutils >= 8.0\n\
%global __os_install_post %{{nil}}\n%global _build_id_links none\n\
%description\nBuilt by the berth test suite.\n\
%install\n\
mkdir -p %{{buildroot}}/usr/bin %{{buildroot}}/usr/share/{name} %{{buildroot}}/etc/{name}\n\
echo '#!/bin/sh' > %{{buildroot}}/usr/bin/{name}\n\
echo 'echo \"{name} {version}-{release}\"' >> %{{buildroot}}/usr/bin/{name}\n\
chmod 755 %{{buildroot}}/usr/bin/{name}\n\
echo {version} > %{{buildroot}}/usr/share/{name}/VERSION\n\
ln %{{buildroot}}/usr/share/{name}/VERSION %{{buildroot}}/usr/share/{name}/VERSION.link\n\
ln -s VERSION %{{buildroot}}/usr/share/{name}/current\n\
echo 'color = blue' > %{{buildroot}}/etc/{name}/{name}.conf\n\
%post\ntouch '{post_marker}'\n\
%files\n/usr/bin/{name}\n/usr/share/{name}\n%config(noreplace) /etc/{name}/{name}.conf\n"
    );
    let spec_path = dir.join(format!("{name}-{version}.spec"));
    std::fs::write(&spec_path, spec).unwrap();
    let payload = if r.payload.is_empty() {
        "w9.xzdio"
    } else {
        r.payload
    };
    tool_text(
        dir,
        "rpmbuild",
        &[
            "-bb",
            "--quiet",
            "--define",
            &format!("_topdir {}", top.display()),
            "--define",
            &format!("_binary_payload {payload}"),
            "--define",
            &format!("_tmppath {}", dir.join("rpmtmp").display()),
            spec_path.to_str().unwrap(),
        ],
    );
    let built = top
        .join("RPMS/noarch")
        .join(format!("{name}-{version}-{release}.noarch.rpm"));
    let out = dir.join(built.file_name().unwrap());
    std::fs::rename(&built, &out).unwrap();
    out
}

/// The members of an `ar` archive, in order (a test helper: trusts its input).
pub fn ar_members(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    assert_eq!(&bytes[..8], b"!<arch>\n");
    let mut out = Vec::new();
    let mut at = 8;
    while at < bytes.len() {
        let h = &bytes[at..at + 60];
        let name = String::from_utf8_lossy(&h[..16])
            .trim_end()
            .trim_end_matches('/')
            .to_string();
        let size: usize = String::from_utf8_lossy(&h[48..58]).trim().parse().unwrap();
        out.push((name, bytes[at + 60..at + 60 + size].to_vec()));
        at += 60 + size + size % 2;
    }
    out
}

/// An `ar` header with `size` as the size field (which may lie).
pub fn ar_header(name: &str, size: usize) -> Vec<u8> {
    let h = format!(
        "{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n",
        0, 0, 0, 100644
    );
    assert_eq!(h.len(), 60);
    h.into_bytes()
}

/// An `ar` archive of these members.
pub fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        out.extend(ar_header(name, data.len()));
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

/// A ustar stream written header by header (nothing is checked: hostile names welcome).
#[derive(Default)]
pub struct Tar {
    buf: Vec<u8>,
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

impl Tar {
    fn header(&mut self, name: &str, typeflag: u8, mode: u32, size: usize, link: &str) {
        assert!(name.len() <= 100 && link.len() <= 100);
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], u64::from(mode));
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], size as u64);
        octal(&mut h[136..148], 1);
        h[156] = typeflag;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        self.buf.extend_from_slice(&h);
    }

    /// A regular file.
    pub fn file(mut self, name: &str, mode: u32, data: &[u8]) -> Tar {
        self.header(name, b'0', mode, data.len(), "");
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    /// A directory.
    pub fn dir(mut self, name: &str) -> Tar {
        self.header(name, b'5', 0o755, 0, "");
        self
    }

    /// A symlink.
    pub fn symlink(mut self, name: &str, target: &str) -> Tar {
        self.header(name, b'2', 0o777, 0, target);
        self
    }

    /// The stream with its end-of-archive blocks.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend([0u8; 1024]);
        self.buf
    }
}

/// Debian's `hello` (see [`debian_hello`]), or None when it cannot be fetched: then, as
/// root, the rule of a missing tool (a failure unless `BERTH_TEST_ALLOW_MISSING=1`); in the
/// unprivileged pass, which reuses root's download when it can read it, a counted root skip
/// (only root can `apt-get update`).
#[track_caller]
pub fn debian_hello_or_skip(test: &str) -> Option<PathBuf> {
    let why = match debian_hello() {
        Ok(deb) => return Some(deb),
        Err(why) => format!(
            "cannot fetch hello with `apt-get download hello` ({why}): run `apt-get update` first"
        ),
    };
    let unprivileged = std::env::var_os("BERTH_TEST_UNPRIVILEGED").is_some();
    // (As root, or outside the unprivileged pass: the rule of a missing tool.)
    if !unprivileged || super::is_root_or_skip(&format!("{test}: {why}")) {
        super::tools::unavailable(test, &why);
    }
    None
}

/// A `hello_*.deb` from the configured Debian mirror (`apt-get download`), kept in cargo's
/// scratch directory so later runs (and CI's unprivileged pass, which may not reach the
/// mirror) reuse it; the reason when there is none.
pub fn debian_hello() -> Result<std::path::PathBuf, String> {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian-hello");
    let find = || {
        super::children(&cache)
            .into_iter()
            .find(|n| n.starts_with("hello_") && n.ends_with(".deb"))
            .map(|n| cache.join(n))
    };
    if let Some(p) = find() {
        return Ok(p);
    }
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let out = Command::new("apt-get")
        .args(["download", "hello"])
        .current_dir(&cache)
        .output()
        .map_err(|e| e.to_string())?;
    find().ok_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A real Debian package, `NAME_VERSION_ARCH.deb` from the configured mirror
/// (`apt-get download NAME=VERSION`, or apt's candidate when `version` is empty), kept in cargo's scratch directory so every test and
/// later runs (and CI's unprivileged pass) share one download; the reason when there is none.
pub fn debian_deb(name: &str, version: &str) -> Result<PathBuf, String> {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian-debs");
    // apt-get names the file with the epoch's `:` escaped as `%3a`.
    let prefix = match version {
        "" => format!("{name}_"),
        v => format!("{name}_{}_", v.replace(':', "%3a")),
    };
    let spec = match version {
        "" => name.to_string(),
        v => format!("{name}={v}"),
    };
    let find = || {
        super::children(&cache)
            .into_iter()
            .find(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
            .map(|n| cache.join(n))
    };
    if let Some(p) = find() {
        return Ok(p);
    }
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    // Into a private directory first, then renamed: tests running at once never see half a
    // download under the real name.
    let scratch = tempfile::tempdir_in(&cache).map_err(|e| e.to_string())?;
    let out = Command::new("apt-get")
        .args(["download", &spec])
        .current_dir(scratch.path())
        .output()
        .map_err(|e| format!("apt-get: {e}"))?;
    for n in super::children(scratch.path()) {
        if n.starts_with(&prefix) && n.ends_with(".deb") {
            let _ = std::fs::rename(scratch.path().join(&n), cache.join(&n));
        }
    }
    find().ok_or_else(|| {
        format!(
            "cannot fetch {spec} with `apt-get download`: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

/// Like [`debian_deb`], with the rule of [`debian_hello_or_skip`] when it cannot be
/// fetched.
#[track_caller]
pub fn debian_deb_or_skip(test: &str, name: &str, version: &str) -> Option<PathBuf> {
    let why = match debian_deb(name, version) {
        Ok(deb) => return Some(deb),
        Err(why) => format!("{why}: run `apt-get update` first"),
    };
    let unprivileged = std::env::var_os("BERTH_TEST_UNPRIVILEGED").is_some();
    if !unprivileged || super::is_root_or_skip(&format!("{test}: {why}")) {
        super::tools::unavailable(test, &why);
    }
    None
}

/// A dpkg status file declaring these (name, version, status) packages.
pub fn dpkg_status(dir: &Path, packages: &[(&str, &str, &str)]) -> PathBuf {
    let mut text = String::new();
    for (name, version, status) in packages {
        text.push_str(&format!(
            "Package: {name}\nStatus: {status}\nPriority: optional\nArchitecture: amd64\nVersion: {version}\nDescription: fake\n multi-line\n\n"
        ));
    }
    let path = dir.join(format!("dpkg-status-{}", packages.len()));
    std::fs::write(&path, text).unwrap();
    path
}

/// Every path under `dir` with its type, size and link count, sorted: what "unchanged" means.
pub fn tree_state(dir: &Path) -> Vec<(String, String)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            out.push((
                rel,
                format!("{:?} {} {}", m.file_type(), m.len(), m.nlink()),
            ));
        }
    }
    out.sort();
    out
}

/// The value of control or header field `name` in `info --json` output.
#[track_caller]
pub fn field<'a>(info: &'a serde_json::Value, name: &str) -> &'a str {
    info["native"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {info}"))["value"]
        .as_str()
        .unwrap()
}
