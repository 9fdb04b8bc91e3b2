//! What each error offers the user as a next step, and the documented exit code it maps to.

use super::{exit, Decode, Error};

impl Error {
    /// What the user can do next, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        self.root_hint()
            .or_else(|| self.input_hint())
            .or_else(|| self.state_hint())
    }

    fn root_hint(&self) -> Option<String> {
        use Error::*;
        let s = |t: &str| Some(t.to_string());
        match self {
            SymlinkInRoot { .. } | NotADirectoryInRoot { .. } => s(
                "parts of a berth root must be real directories; move the link away (nothing was changed)",
            ),
            InsecureRoot { path, .. } => Some(format!(
                "run `chmod go-w` on the parts named (or `chown` them to yourself), or `berth check --repair` as the owner; --insecure-permissions goes on anyway ({})",
                path.display()
            )),
            Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC) => {
                s("the disk is full; free some space (`berth gc`) and try again; nothing was committed")
            }
            LockTimeout { .. } => {
                s("wait for that command to finish, or raise --lock-timeout")
            }
            _ => None,
        }
    }

    fn input_hint(&self) -> Option<String> {
        use Error::*;
        let s = |t: &str| Some(t.to_string());
        match self {
            InputNotFound { .. } => {
                s("check the path; relative paths are taken from the current directory")
            }
            InputNotRegular { .. } => s("download or copy the package into a regular file first"),
            OutputDirMissing { dir } => Some(format!(
                "create it with `mkdir -p {}`, or give an existing directory",
                dir.display()
            )),
            OutputNotADirectory { .. } => s(
                "give an existing directory, or a file name in one (-o DIR/NAME.berth)",
            ),
            Unsafe { .. } | Manifest { .. } | ManifestValue { .. } => {
                s("the package is unsafe or corrupt; nothing was installed")
            }
            CompressionRatio { .. } => s(
                "nothing was installed; if you trust this archive, raise the limit with --max-ratio",
            ),
            BadArchive {
                detail: Decode::Corrupt(_),
                ..
            } => s(
                "the file was damaged or altered (a broken download?); fetch it again and check it with --sha256; nothing was installed",
            ),
            BadArchive { .. } => s(
                "is it a .berth, .deb, .rpm, tar, .tar.gz, .tar.xz, .tar.zst or .tar.bz2 file? nothing was installed",
            ),
            UnsupportedCompression { .. } => {
                s("recompress it with gzip, xz or zstd; nothing was installed")
            }
            EmptyArchive { .. } => {
                s("pass --allow-empty to accept a package that holds no files (for a tarball, check --strip-components)")
            }
            ChecksumMismatch { .. } => {
                s("the file is corrupt or not the one you meant; nothing was installed")
            }
            NeedNameVersion { hint, .. } => s(hint),
            EntryNameTooLong { .. } => s("use a shorter name or version"),
            UnknownCommand { known, .. } => Some(format!("commands: {}", known.join(", "))),
            VersionClash { .. } => s("give the new build a new version"),
            _ => None,
        }
    }

    fn state_hint(&self) -> Option<String> {
        use Error::*;
        let s = |t: &str| Some(t.to_string());
        match self {
            UnknownPackage { .. } => s("`berth list` shows what is installed"),
            AmbiguousPackage { .. } => s(
                "add the version (name@version) or an id prefix of at least 6 characters (name@id:PREFIX)",
            ),
            EntryInUse { .. } => s(
                "drop it from those profiles first (`berth drop PROFILE NAME`), or delete those generations",
            ),
            EntryPinned { entry } => Some(format!("`berth unpin {entry}` first, then remove it")),
            Corrupt { .. } => s(
                "run `berth check`; reinstall the package from its artifact (`berth install --repair FILE`)",
            ),
            IntegrityFailed { what: "check", .. } => s(
                "`berth check --repair` fixes what is marked so; rebuild a damaged entry from its artifact with `berth install --repair FILE`",
            ),
            IntegrityFailed { .. } => s(
                "rebuild the damaged packages from their artifacts (`berth install --repair FILE`)",
            ),
            DiskFull { .. } => s(
                "free some space (`berth gc` removes what no profile uses) and try again; nothing was installed",
            ),
            // The cause's own hint says what to fix, when it has one.
            InstalledButFailed { source, .. } => source.hint().or_else(|| {
                s("the entry is in the store; fix the cause and run the command again")
            }),
            UnknownProfile { profile, .. } => {
                Some(format!("`berth use {profile} PACKAGE` creates it"))
            }
            NoSuchGeneration { profile, .. } | NotInProfile { profile, .. } => {
                Some(format!("`berth generations {profile}` lists them"))
            }
            NoEarlierGeneration { profile, .. } => Some(format!(
                "`berth generations {profile}` lists the generations; `berth switch {profile} N` picks any"
            )),
            PathConflict { .. } => s(
                "drop one of them, or let one win with `berth use --prefer NAME`; nothing was changed",
            ),
            DeleteCurrent { profile, .. } => {
                Some(format!("switch {profile} to an older generation first"))
            }
            BadState { .. } => s("run `berth check`; it names what to do"),
            NoProfileChosen(_) => s("`berth profiles` lists the profiles"),
            CommandNotInProfile { profile, .. } => Some(format!(
                "`berth use {profile} PACKAGE` adds the package that provides it"
            )),
            Exec { profile, .. } => Some(format!(
                "`berth which COMMAND --profile {profile}` shows what the profile provides"
            )),
            UnmetDependencies { profile, .. } => Some(format!(
                "install and add what is missing (`berth use {profile} PACKAGE`), or run without --strict to only warn; nothing was changed"
            )),
            Internal { .. } => s("this is a bug in berth; please report it"),
            Module(e) => e.0.hint(),
            _ => None,
        }
    }

    /// The documented exit code for this error.
    pub fn exit_code(&self) -> i32 {
        use Error::*;
        match self {
            Io { .. }
            | SymlinkInRoot { .. }
            | NotADirectoryInRoot { .. }
            | NotARegularFile { .. }
            | FileTooLarge { .. }
            | InsecureRoot { .. }
            | DiskFull { .. }
            | InstalledButFailed { .. }
            | BadState { .. }
            | NoEarlierGeneration { .. }
            | CommandNotInProfile { .. }
            | Exec { .. }
            | Internal { .. } => exit::FAILURE,
            BadOutputPath { .. }
            | OutputNotADirectory { .. }
            | InvalidName { .. }
            | NeedNameVersion { .. }
            | FlagMismatch { .. }
            | BadFlag { .. }
            | UnknownCommand { .. }
            | EntryNameTooLong { .. }
            | AmbiguousPackage { .. }
            | DuplicateReference { .. } => exit::USAGE,
            InputNotFound { .. }
            | OutputDirMissing { .. }
            | UnknownPackage { .. }
            | UnknownProfile { .. }
            | NoSuchGeneration { .. }
            | NotInProfile { .. }
            | NoProfileChosen(_) => exit::NOT_FOUND,
            VersionClash { .. }
            | EntryInUse { .. }
            | EntryPinned { .. }
            | PathConflict { .. }
            | UnmetDependencies { .. }
            | DeleteCurrent { .. } => exit::CONFLICT,
            ChecksumMismatch { .. } | Corrupt { .. } | IntegrityFailed { .. } => exit::INTEGRITY,
            InputNotRegular { .. }
            | Unsafe { .. }
            | BadArchive { .. }
            | UnsupportedCompression { .. }
            | EmptyArchive { .. }
            | CompressionRatio { .. }
            | Manifest { .. }
            | ManifestValue { .. } => exit::REFUSED,
            LockTimeout { .. } => exit::LOCKED,
            Module(e) => e.0.exit_code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_stream_has_its_own_hint() {
        let bad = |detail| Error::BadArchive {
            archive: "p.tar.gz".into(),
            detail,
        };
        let corrupt = bad(Decode::Corrupt("crc".into()));
        assert_eq!(
            corrupt.to_string(),
            "p.tar.gz: cannot read archive: the compressed data is corrupt (crc)"
        );
        assert!(corrupt
            .hint()
            .is_some_and(|h| h.starts_with("the file was damaged")));
        assert!(bad(Decode::Other("x".into()))
            .hint()
            .is_some_and(|h| h.starts_with("is it a .berth")));
    }
}
