//! The shell side of a confined run: the driver that runs each script (fresh-install
//! arguments, a time limit, then every leftover process killed) and copies what the
//! writable layer holds after each package, and the recording stubs first on PATH. Stubs
//! record their argv and do the minimum later lines need (mmdebstrap's way): services are
//! never started, alternatives become plain links, ucf copies a missing file, adduser adds
//! to the view's passwd so `id redis` works, dpkg-statoverride keeps its own list.

use crate::error::{Error, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Where the files of a run appear inside the instance.
pub const INSIDE: &str = "/run/berth";

/// Tools replaced by the recording stub.
pub const STUBBED: &[&str] = &[
    "update-alternatives",
    "ucf",
    "ucfr",
    "ucfq",
    "adduser",
    "addgroup",
    "useradd",
    "groupadd",
    "usermod",
    "chown",
    "chgrp",
    "dpkg-statoverride",
    "deb-systemd-helper",
    "deb-systemd-invoke",
    "invoke-rc.d",
    "update-rc.d",
    "systemctl",
    "service",
    "start-stop-daemon",
    "ldconfig",
    "dpkg-trigger",
    "dpkg-maintscript-helper",
    "py3compile",
    "py3clean",
    "pycompile",
    "update-initramfs",
    "systemd-tmpfiles",
    "systemd-sysusers",
    "udevadm",
    "mandb",
    "install-info",
    "update-mime-database",
    "update-desktop-database",
    "policy-rc.d",
];

const DRIVER: &str = r#"#!/bin/sh
# berth: the set's maintainer scripts, one after another, as dpkg runs them on a fresh
# install; after each package, what the writable layer holds is copied out.
B=/run/berth
O=$B/out
mkdir -p "$O/state" "$O/snap"
cp "$B/layer/targets" "$O/targets"
while read -r what n pkg arch script arg; do
  case $what in
  run)
    export DPKG_MAINTSCRIPT_PACKAGE="$pkg" DPKG_MAINTSCRIPT_NAME="$script" \
      DPKG_MAINTSCRIPT_ARCH="$arch" BERTH_SCRIPT="$n"
    f="$B/scripts/$pkg.$script"
    interp=$(head -n 1 "$f" | sed -n 's/^#![[:space:]]*//p')
    [ -n "$interp" ] || interp=/bin/sh
    if [ "$script" = postinst ]; then
      timeout -k 2 "$BERTH_LIMIT" $interp "$f" "$arg" "" </dev/null >"$O/$n.log" 2>&1
    else
      timeout -k 2 "$BERTH_LIMIT" $interp "$f" "$arg" </dev/null >"$O/$n.log" 2>&1
    fi
    echo $? >"$O/$n.status"
    # Whatever the script left running (a daemon it started) ends with it.
    kill -KILL -1 2>/dev/null
    ;;
  snap)
    mkdir -p "$O/snap/$n"
    cp -a "$B/layer/upper/." "$O/snap/$n/" 2>/dev/null
    touch "$O/snap/$n.done"
    ;;
  esac
done <"$B/list"
"#;

const STUB: &str = r#"#!/bin/sh
# berth's recording stub: records the call, then does the least later lines rely on.
tool=${0##*/}
S=/run/berth/out/state
{
  printf '%s\t%s' "${BERTH_SCRIPT:-0}" "$tool"
  for a in "$@"; do printf '\t%s' "$a"; done
  printf '\n'
} >>/run/berth/out/records
real() { for d in /usr/bin /bin /usr/sbin /sbin; do
  if [ -x "$d/$tool" ]; then "$d/$tool" "$@" 2>/dev/null; return 0; fi; done; }
free_id() { # first id in 100..999 free in the file $1
  i=100; while cut -d: -f3 "$1" | grep -qx "$i"; do i=$((i+1)); done; echo $i; }
add_group() { # name
  grep -q "^$1:" /etc/group || echo "$1:x:$(free_id /etc/group):" >>/etc/group; }
add_user() { # name home shell group
  grep -q "^$1:" /etc/passwd && return 0
  [ -n "$4" ] || { add_group nogroup; set -- "$1" "$2" "$3" nogroup; }
  add_group "$4"
  gid=$(grep "^$4:" /etc/group | cut -d: -f3)
  uid=$(free_id /etc/passwd)
  echo "$1:x:$uid:$gid::$2:$3" >>/etc/passwd
  case $2 in /nonexistent) ;; *) [ -n "$nocreate" ] || { mkdir -p "$2" && chown "$1:$4" "$2"; } ;; esac
}
case $tool in
update-alternatives)
  win=0
  while [ $# -gt 0 ]; do
    case $1 in
    --install)
      if [ ! -f "$S/alt.$3" ] || [ "$5" -gt "$(cat "$S/alt.$3")" ]; then
        echo "$5" >"$S/alt.$3"; win=1
        mkdir -p "${2%/*}"; ln -sfn "$4" "$2"
      fi
      shift 5 ;;
    --slave)
      if [ "$win" = 1 ] && [ -e "$4" ]; then mkdir -p "${2%/*}"; ln -sfn "$4" "$2"; fi
      shift 4 ;;
    *) shift ;;
    esac
  done ;;
ucf)
  src=""; dest=""
  for a in "$@"; do
    case $a in --purge) exit 0 ;; -*) ;; *) src=$dest; dest=$a ;; esac
  done
  if [ -n "$src" ] && [ ! -e "$dest" ]; then mkdir -p "${dest%/*}"; cp "$src" "$dest"; fi ;;
adduser|useradd|addgroup|groupadd)
  home=/nonexistent; shell=/usr/sbin/nologin; group=""; mkgroup=""; name=""; nocreate=""
  second=""
  while [ $# -gt 0 ]; do
    case $1 in
    --home|-d) home=$2; shift ;;
    --shell|-s) shell=$2; shift ;;
    --ingroup|-g|--gid) group=$2; shift ;;
    --group|-U) mkgroup=1 ;;
    --no-create-home|-M) nocreate=1 ;;
    --uid|-u|--gecos|-c|--comment|-K|--firstuid|--lastuid|--conf|-G) shift ;;
    -*) ;;
    *) if [ -z "$name" ]; then name=$1; else second=$1; fi ;;
    esac
    shift
  done
  [ -n "$name" ] || exit 0
  case $tool in
  addgroup|groupadd) add_group "$name" ;;
  *)
    if [ -n "$second" ]; then exit 0; fi
    [ -z "$mkgroup" ] || group=$name
    add_user "$name" "$home" "$shell" "$group" ;;
  esac ;;
chown|chgrp) real "$@" ;;
dpkg-statoverride)
  db=$S/statoverride; touch "$db"
  update=""
  while [ $# -gt 0 ]; do
    case $1 in
    --list) [ -n "$2" ] || { cat "$db"; exit 0; }
      grep -q " $2\$" "$db" && { grep " $2\$" "$db"; exit 0; }; exit 1 ;;
    --update) update=1 ;;
    --add) echo "$2 $3 $4 $5" >>"$db"
      if [ -n "$update" ]; then /bin/chown "$2:$3" "$5" 2>/dev/null; chmod "$4" "$5" 2>/dev/null; fi
      exit 0 ;;
    --remove) grep -v " $2\$" "$db" >"$db.new"; mv "$db.new" "$db"; exit 0 ;;
    esac
    shift
  done ;;
policy-rc.d) exit 101 ;;
invoke-rc.d) exit 0 ;;
esac
exit 0
"#;

/// Writes the driver, the stubs (one script, a link per tool) and `policy-rc.d` under
/// `dir` (the run's `/run/berth` on the host).
pub fn write(dir: &Path) -> Result<()> {
    let put = |rel: &str, text: &str| -> Result<()> {
        let p = dir.join(rel);
        std::fs::write(&p, text).map_err(|e| Error::io("write", &p, e))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::io("chmod", &p, e))
    };
    let stubs = dir.join("stubs");
    std::fs::create_dir_all(&stubs).map_err(|e| Error::io("create directory", &stubs, e))?;
    put("driver.sh", DRIVER)?;
    put("stubs/berth-stub", STUB)?;
    for name in STUBBED {
        let p = stubs.join(name);
        std::os::unix::fs::symlink("berth-stub", &p).map_err(|e| Error::io("link", &p, e))?;
    }
    Ok(())
}
