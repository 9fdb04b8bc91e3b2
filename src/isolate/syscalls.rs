//! The few calls of Linux's file-descriptor mount API (5.2+) that isolation needs and that
//! neither std nor nix wraps: cloning a mount tree to attach it later (`open_tree`,
//! `move_mount`), and building an overlay one layer at a time (`fsopen`, `fsconfig`,
//! `fsmount`), which avoids the one-page limit of mount(2)'s option string.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

// From <linux/mount.h> and <linux/fcntl.h>; stable kernel ABI.
const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
/// Mount attribute: read-only.
pub const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
/// Mount attribute: ignore setuid/setgid bits.
pub const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
/// Mount attribute: no device files.
pub const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput.into())
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::ErrorKind::InvalidInput.into())
}

fn fd_result(r: libc::c_long) -> io::Result<OwnedFd> {
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

fn unit_result(r: libc::c_long) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A detached copy of the mount tree at `path` (with its submounts), attachable later with
/// [`move_mount`] even after `path` itself has been covered by another mount.
pub fn clone_tree(path: &Path) -> io::Result<OwnedFd> {
    let p = cpath(path)?;
    let flags = OPEN_TREE_CLONE | AT_RECURSIVE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: plain syscall with a valid C string.
    fd_result(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, p.as_ptr(), flags) })
}

/// Attaches a detached mount (from [`clone_tree`] or [`fsmount`]) at `target`.
pub fn move_mount(mount: &OwnedFd, target: &Path) -> io::Result<()> {
    let t = cpath(target)?;
    let empty = c"";
    // SAFETY: plain syscall with valid descriptors and C strings.
    unit_result(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
}

/// A filesystem context for `fstype` (`overlay`).
pub fn fsopen(fstype: &str) -> io::Result<OwnedFd> {
    let f = cstr(fstype)?;
    // SAFETY: plain syscall with a valid C string.
    fd_result(unsafe { libc::syscall(libc::SYS_fsopen, f.as_ptr(), FSOPEN_CLOEXEC) })
}

/// Sets a string option of a filesystem context (each call has its own 256-byte limit).
pub fn fsconfig_string(fs: &OwnedFd, key: &str, value: &str) -> io::Result<()> {
    let (k, v) = (cstr(key)?, cstr(value)?);
    // SAFETY: plain syscall with a valid descriptor and C strings.
    unit_result(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_STRING,
            k.as_ptr(),
            v.as_ptr(),
            0,
        )
    })
}

/// Sets a flag option of a filesystem context.
pub fn fsconfig_flag(fs: &OwnedFd, key: &str) -> io::Result<()> {
    let k = cstr(key)?;
    // SAFETY: plain syscall with a valid descriptor and C string.
    unit_result(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_FLAG,
            k.as_ptr(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    })
}

/// Creates the superblock of a configured context.
pub fn fsconfig_create(fs: &OwnedFd) -> io::Result<()> {
    // SAFETY: plain syscall with a valid descriptor.
    unit_result(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    })
}

/// A detached mount of a created context, with `MOUNT_ATTR_*` attributes.
pub fn fsmount(fs: &OwnedFd, attrs: libc::c_uint) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with a valid descriptor.
    fd_result(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })
}

// From <linux/mount.h>: mount_setattr(2) (Linux 5.12+).
const AT_EMPTY_PATH: libc::c_uint = 0x1000;
/// Mount attribute: the mount shows its files' owners through a user namespace's map.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A detached copy of the single mount at `path` (a file or a directory; no submounts).
pub fn clone_one(path: &Path) -> io::Result<OwnedFd> {
    let p = cpath(path)?;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: plain syscall with a valid C string.
    fd_result(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, p.as_ptr(), flags) })
}

/// Sets `attrs` (`MOUNT_ATTR_*`) on the detached tree `tree` and everything beneath it;
/// with [`MOUNT_ATTR_IDMAP`], file owners are shown through the user namespace `userns`.
pub fn set_tree_attrs(tree: &OwnedFd, attrs: u64, userns: Option<&OwnedFd>) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.map_or(0, |u| u.as_raw_fd() as u64),
    };
    let empty = c"";
    // SAFETY: plain syscall with a valid descriptor, C string and struct of the size given.
    unit_result(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            AT_EMPTY_PATH | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
}

/// Makes every mount at and beneath `path` read-only (mount_setattr with AT_RECURSIVE):
/// submounts included, which a remount of `path` alone would leave writable.
pub fn make_read_only_recursive(path: &Path) -> io::Result<()> {
    let p = cpath(path)?;
    let attr = MountAttr {
        attr_set: u64::from(MOUNT_ATTR_RDONLY),
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: plain syscall with a valid C string and struct of the size given.
    unit_result(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            p.as_ptr(),
            AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
}
