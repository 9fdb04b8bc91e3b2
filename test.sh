#!/usr/bin/env bash
# The README's test command. On a fresh Debian with Rust: as root, installs what the tests
# need when it is missing (the list is tests/tools.txt, the one CI uses too), then runs
# `cargo test --workspace --release`; as another user with a tool missing, stops at once
# with the exact `apt-get install …` line to run. Ends with a count of the tests that
# skipped (root-only tests run unprivileged …): a skip is never silent.
#
#   ./test.sh [ARGS…]        cargo test --workspace --release [ARGS…]
#   ./test.sh --tools        only install what is missing (or say what to install)
#   ./test.sh --as USER      (root) the same test binaries again, run as USER: berth must
#                            work for a user who is not root, and the tests must not lean on
#                            root's powers (CI's second pass, see .ci/run)
#
# BERTH_TEST_ALLOW_MISSING=1 lets the tests whose tool is missing skip (counted at the end)
# instead of failing, and this script go on without installing anything.
set -euo pipefail
cd "$(dirname "$0")"
checkout=$(pwd -P)

# --- What the tests need --------------------------------------------------------------
# Prints the Debian packages of the tools in tests/tools.txt that are missing, one a line.
missing_packages() {
  local tool pkg _
  while read -r tool pkg _; do
    case $tool in '' | '#'*) continue ;; esac
    if [ "$tool" = libc.a ]; then
      # Not a program: glibc's static libc, which build.rs links the shim with.
      # (-print-file-name answers a full path when it finds the file, else the bare name.)
      case $(cc -print-file-name=libc.a 2>/dev/null) in /*) ;; *) echo "$pkg" ;; esac
    else
      PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null || echo "$pkg"
    fi
  done <tests/tools.txt | sort -u
}

ensure_tools() {
  local missing
  missing=$(missing_packages | tr '\n' ' ')
  missing=${missing% }
  if [ -n "$missing" ]; then
    if [ "${BERTH_TEST_ALLOW_MISSING:-}" = 1 ]; then
      echo "warning: not installed: $missing (BERTH_TEST_ALLOW_MISSING=1: their tests skip)" >&2
    elif [ "$(id -u)" != 0 ]; then
      echo "error: the tests need packages that are not installed; as root, run:" >&2
      echo "  apt-get install -y $missing" >&2
      echo "(or ./test.sh as root, which installs them; or BERTH_TEST_ALLOW_MISSING=1 to skip their tests)" >&2
      exit 1
    else
      echo "installing what the tests need: $missing" >&2
      apt-get update -qq
      # shellcheck disable=SC2086 # one word per package
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
      missing=$(missing_packages | tr '\n' ' ')
      if [ -n "$missing" ]; then
        echo "error: still missing after apt-get install: $missing" >&2
        exit 1
      fi
    fi
  fi
  # cargo-deb builds the .deb in the distribution tests (as root). Compiling it takes about
  # 2.5 minutes on 2 idle cores, once per machine; bounded so a stuck download cannot eat
  # the run's time. Only root's pass builds the .deb, so only root installs it.
  if [ "$(id -u)" = 0 ] && ! cargo deb --version >/dev/null 2>&1; then
    if [ "${BERTH_TEST_ALLOW_MISSING:-}" = 1 ]; then
      echo "warning: cargo-deb is not installed (BERTH_TEST_ALLOW_MISSING=1: its test skips)" >&2
    else
      timeout 900 cargo install --locked cargo-deb
    fi
  fi
}

# --- The count of skips ---------------------------------------------------------------
# The tests append `<reason>\t<test>\t<what>` to $BERTH_TEST_SKIP_LOG for every skip
# (tests/common/tools.rs); one line per reason, counting tests, not calls.
skip_log=$(mktemp /tmp/berth-skips.XXXXXX)
trap 'rm -f "$skip_log"' EXIT
report_skips() {
  cut -f1,2 "$skip_log" | sort -u | cut -f1 | sort | uniq -c |
    while read -r n reason; do echo "$n tests skipped: $reason"; done
}

if [ "${1:-}" = --tools ]; then
  ensure_tools
  exit 0
fi

# --- Root's pass (or any user's): cargo test ------------------------------------------
if [ "${1:-}" != --as ]; then
  ensure_tools
  status=0
  BERTH_TEST_SKIP_LOG=$skip_log cargo test --workspace --release "$@" || status=$?
  report_skips
  exit $status
fi

# --- The same test binaries, run as another user --------------------------------------
# That user cannot run root's toolchain (~/.cargo and ~/.rustup are root's), so root builds
# the test binaries and the user runs only them, each from its crate's directory as
# `cargo test` would. The binaries keep absolute paths from the build (the berth binary
# beside them, the crate directory for snapshots, cargo's scratch directory), so they run
# where they were built rather than from a copy: the user gets search permission on the
# checkout's parent directories (o+x, which lists nothing) and read permission on the
# checkout and its target directory. Tests that need root skip there, and are counted.
ci_user=${2:?usage: ./test.sh --as USER}
if [ "$(id -u)" != 0 ]; then
  echo "error: ./test.sh --as $ci_user runs the tests as another user: run it as root" >&2
  exit 1
fi
ensure_tools
id -u "$ci_user" >/dev/null 2>&1 ||
  useradd --system --create-home --home-dir "/home/$ci_user" --shell /usr/sbin/nologin "$ci_user"
ci_home=$(getent passwd "$ci_user" | cut -d: -f6)
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
list=$(mktemp)
cargo test --workspace --release --no-run --message-format=json >"$list"
# "<crate directory>\t<test binary>" for every test harness binary (unit and integration).
jq -r 'select(.reason == "compiler-artifact" and .profile.test and .executable != null)
       | "\(.manifest_path | rtrimstr("/Cargo.toml"))\t\(.executable)"' "$list" | sort -u >"$list.bins"
for dir in "$checkout" "$target"; do
  d=$dir
  while [ "$d" != / ]; do chmod o+x "$d"; d=$(dirname "$d"); done
  chmod -R o+rX "$dir"
done
shared="$checkout/../shared"
if [ -d "$shared" ] && ! runuser -u "$ci_user" -- test -r "$shared/tools/hostile-corpus"; then
  echo "warning: $shared is not readable by $ci_user" >&2
fi
ci_tmp=$(mktemp -d /tmp/berth-ci.XXXXXX)
chown "$ci_user:" "$ci_tmp" "$skip_log"
status=0
while IFS=$'\t' read -r dir bin; do
  echo "== as $ci_user: $bin (in $dir)"
  (cd "$dir" && runuser -u "$ci_user" -- env -i \
    PATH=/usr/local/bin:/usr/bin:/bin HOME="$ci_home" TMPDIR="$ci_tmp" LANG=C.UTF-8 \
    ${CI+"CI=$CI"} ${BERTH_TEST_ALLOW_MISSING+"BERTH_TEST_ALLOW_MISSING=$BERTH_TEST_ALLOW_MISSING"} \
    BERTH_TEST_UNPRIVILEGED=1 BERTH_TEST_SKIP_LOG="$skip_log" \
    INSTA_UPDATE=no INSTA_WORKSPACE_ROOT="$checkout" \
    RUST_BACKTRACE=1 "$bin") || status=1
done <"$list.bins"
# The harness restores write bits before deleting its scratch directories: nothing may be
# left but the probe program some tests compile once.
left=$(find "$ci_tmp" -mindepth 1 -maxdepth 1 ! -name 'berth-probe-*' -printf '%f\n')
rm -rf "$ci_tmp" "$list" "$list.bins"
if [ -n "$left" ]; then
  echo "error: the tests left files in TMPDIR as $ci_user: $left" >&2
  status=1
fi
report_skips
exit $status
