//! The directories every Linux system shares between packages (the FHS's, and Debian's
//! usual ones): on a host without dpkg they alone keep merging with the host inside
//! `run --isolate`; on a host with dpkg they do whatever its database says.

use std::ffi::OsStr;
use std::path::Path;

/// Directories every system shares whatever dpkg says (and the whole answer on a host
/// without dpkg), relative to `/`, beyond the children named in [`FHS_NAMED_UNDER`]. `*`
/// matches within one name, `**` any depth below.
const FHS_SHARED: &[&str] = &[
    "etc/alternatives",
    "etc/apparmor.d",
    "etc/apt",
    "etc/bash_completion.d",
    "etc/cron.*",
    "etc/dbus-1",
    "etc/dbus-1/*",
    "etc/default",
    "etc/init.d",
    "etc/ld.so.conf.d",
    "etc/logrotate.d",
    "etc/modprobe.d",
    "etc/network",
    "etc/pam.d",
    "etc/profile.d",
    "etc/rc*.d",
    "etc/security",
    "etc/skel",
    "etc/ssl",
    "etc/ssl/*",
    "etc/sudoers.d",
    "etc/sysctl.d",
    "etc/systemd",
    "etc/systemd/**",
    "etc/tmpfiles.d",
    "etc/udev",
    "etc/udev/*",
    "etc/ufw",
    "etc/ufw/*",
    "etc/X11",
    "etc/xdg",
    "lib/systemd/**",
    "lib/udev/*",
    "usr/lib/systemd/**",
    "usr/lib/udev/*",
    "usr/lib/*-linux-gnu*/pkgconfig",
    "usr/lib/python3/dist-packages",
    "usr/lib/mime/packages",
    "usr/share/apport/*",
    "usr/share/bash-completion/*",
    "usr/share/dbus-1/*",
    "usr/share/icons/**",
    "usr/share/lintian/*",
    "usr/share/locale/**",
    "usr/share/man/**",
    "usr/share/polkit-1/*",
    "usr/share/zsh/*",
    "var/lib/dpkg/**",
    "var/lib/systemd/**",
];

/// The shared children of these directories; any other child is a package's own (its
/// `var/lib/nginx`, `usr/share/nginx`). A `*-linux-gnu*` child (a multiarch triplet) is
/// always shared.
const FHS_NAMED_UNDER: &[(&str, &[&str])] = &[
    (
        "usr",
        &[
            "bin", "sbin", "lib", "lib32", "lib64", "libx32", "libexec", "include", "local",
            "share", "src", "games",
        ],
    ),
    (
        "var",
        &[
            "backups", "cache", "lib", "local", "lock", "log", "mail", "opt", "run", "spool", "tmp",
        ],
    ),
    (
        "lib",
        &[
            "systemd",
            "udev",
            "modules",
            "firmware",
            "modprobe.d",
            "lsb",
            "init",
        ],
    ),
    (
        "var/cache",
        &["apt", "debconf", "man", "ldconfig", "fontconfig"],
    ),
    (
        "var/lib",
        &[
            "apt", "dpkg", "misc", "systemd", "ucf", "python", "polkit-1", "dbus", "pam",
        ],
    ),
    ("var/log", &["apt", "installer", "journal", "private"]),
    ("var/spool", &["cron", "mail", "rsyslog"]),
    (
        "usr/local",
        &[
            "bin", "sbin", "lib", "share", "include", "etc", "games", "src", "man",
        ],
    ),
    (
        "usr/share",
        &[
            "applications",
            "apport",
            "bash-completion",
            "common-licenses",
            "dbus-1",
            "debconf",
            "doc",
            "doc-base",
            "fonts",
            "icons",
            "info",
            "lintian",
            "locale",
            "man",
            "menu",
            "metainfo",
            "mime",
            "misc",
            "perl5",
            "pixmaps",
            "pkgconfig",
            "polkit-1",
            "python3",
            "X11",
            "xml",
            "zoneinfo",
            "zsh",
            "fish",
            "gettext",
            "sounds",
            "themes",
        ],
    ),
    (
        "usr/lib",
        &[
            "python3",
            "locale",
            "mime",
            "systemd",
            "tmpfiles.d",
            "sysusers.d",
            "sysctl.d",
            "udev",
            "modules-load.d",
            "binfmt.d",
            "pkgconfig",
            "ssl",
            "environment.d",
            "kernel",
            "modprobe.d",
            "apt",
            "dpkg",
            "sasl2",
            "cgi-bin",
            "girepository-1.0",
            "gcc",
            "jvm",
        ],
    ),
];

/// Whether `rel` (relative to `/`) is one of the FHS's shared directories.
pub fn fhs_shared(rel: &Path) -> bool {
    let Some(names) = rel.iter().map(OsStr::to_str).collect::<Option<Vec<_>>>() else {
        return false;
    };
    let Some((last, parents)) = names.split_last() else {
        return true;
    };
    if parents.is_empty() {
        return true;
    }
    let parent = parents.join("/");
    if let Some((_, known)) = FHS_NAMED_UNDER.iter().find(|(p, _)| *p == parent) {
        return known.contains(last) || last.contains("-linux-gnu");
    }
    FHS_SHARED
        .iter()
        .any(|pat| matches(&pat.split('/').collect::<Vec<_>>(), &names))
}

/// `pat` (names, `*` within one, `**` any depth) against `names`.
fn matches(pat: &[&str], names: &[&str]) -> bool {
    match (pat.first(), names.first()) {
        (Some(&"**"), _) => true,
        (Some(p), Some(n)) => glob(p.as_bytes(), n.as_bytes()) && matches(&pat[1..], &names[1..]),
        (None, None) => true,
        _ => false,
    }
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fhs_shared_directories_and_a_package_s_own() {
        for shared in [
            "etc",
            "etc/default",
            "etc/init.d",
            "etc/logrotate.d",
            "usr/bin",
            "usr/lib",
            "usr/lib/x86_64-linux-gnu",
            "usr/share/doc",
            "usr/share/man/man8",
            "usr/share/man/de/man1",
            "var/lib",
            "var/log",
            "lib/systemd/system",
        ] {
            assert!(fhs_shared(Path::new(shared)), "{shared}");
        }
        for own in [
            "etc/nginx",
            "etc/nginx/sites-enabled",
            "usr/share/nginx",
            "usr/share/doc/nginx",
            "var/lib/nginx",
            "var/log/nginx",
            "usr/lib/php",
            "opt/app",
        ] {
            assert!(!fhs_shared(Path::new(own)), "{own}");
        }
    }
}
