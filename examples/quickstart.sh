#!/usr/bin/env bash
# berth's quick start, end to end: build, pack two releases, install them side by side,
# inspect and verify them. Runs on a throw-away root (printed at the start).
# BERTH=/usr/bin/berth runs it with an installed berth (the Debian package's) instead of
# building one from this clone; the throw-away directories go in $TMPDIR (default /tmp).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${BERTH:-}" ]; then
  cargo build --release --workspace --quiet --manifest-path "$repo/Cargo.toml"
  BERTH="$repo/target/release/berth"
fi
berth() { "$BERTH" "$@"; }
export BERTH_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/berth-quickstart.XXXXXX")
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-quickstart-pkgs.XXXXXX")
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
echo "root: $BERTH_ROOT"

step berth pack examples/myapp-1.4.2 -o "$work"
berth pack "$repo/examples/myapp-1.4.2" -o "$work"
berth pack "$repo/examples/myapp-1.5.0" -o "$work"

step berth install myapp-1.4.2.berth myapp-1.5.0.berth
berth install "$work/myapp-1.4.2.berth" "$work/myapp-1.5.0.berth"

step berth install myapp-1.5.0.berth "   # again: nothing changes"
berth install "$work/myapp-1.5.0.berth"

step "berth install myapp-2.0.0.tar.gz  # a plain tarball, with its checksum"
tar -C "$repo/examples/myapp-1.5.0" --exclude=berth.toml -czf "$work/myapp-2.0.0.tar.gz" .
sum=$(sha256sum "$work/myapp-2.0.0.tar.gz" | cut -d' ' -f1)
berth install "$work/myapp-2.0.0.tar.gz" --sha256 "$sum"

step berth list
berth list

step berth info myapp@1.5.0 --files
berth info myapp@1.5.0 --files

step berth verify
berth verify

step berth remove myapp@2.0.0
berth remove myapp@2.0.0

# Native packages: two versions of one .deb (built here with dpkg-deb) side by side.
if command -v dpkg-deb >/dev/null; then
  for v in 1.0-1 1.1-1; do
    d="$work/deb-$v"
    mkdir -p "$d/DEBIAN" "$d/usr/bin" "$d/usr/share/greet" "$d/etc/greet"
    printf 'Package: greet\nVersion: %s\nArchitecture: all\nMaintainer: quick start <qs@example.org>\nDepends: coreutils\nDescription: says hello\n' "$v" >"$d/DEBIAN/control"
    printf '#!/bin/sh\necho "greet %s"\n' "$v" >"$d/usr/bin/greet" && chmod 755 "$d/usr/bin/greet"
    echo "$v" >"$d/usr/share/greet/VERSION"
    echo 'greeting = hello' >"$d/etc/greet/greet.conf" && echo /etc/greet/greet.conf >"$d/DEBIAN/conffiles"
    dpkg-deb --root-owner-group -Zxz --build "$d" "$work/greet_${v}_all.deb" >/dev/null
  done
  step berth install greet_1.0-1_all.deb greet_1.1-1_all.deb
  berth install "$work/greet_1.0-1_all.deb" "$work/greet_1.1-1_all.deb"
  step berth info greet@1.0-1
  berth info greet@1.0-1
fi

# Two services, two versions at once, one command on PATH.
step berth use site-a myapp@1.4.2
berth use site-a myapp@1.4.2
step berth use site-b myapp@1.5.0
berth use site-b myapp@1.5.0
export PATH="$BERTH_ROOT/shims:$PATH"
step "BERTH_PROFILE=site-a myapp; BERTH_PROFILE=site-b myapp"
BERTH_PROFILE=site-a myapp
BERTH_PROFILE=site-b myapp
step "echo site-b > \$dir/.berth-profile; cd \$dir/sub && myapp"
mkdir -p "$work/srv-b/sub" && echo site-b >"$work/srv-b/.berth-profile"
(cd "$work/srv-b/sub" && myapp)
step berth which myapp --profile site-a
berth which myapp --profile site-a

# site-a upgrades atomically, then rolls back in one step.
step berth use site-a myapp@1.5.0
berth use site-a myapp@1.5.0
BERTH_PROFILE=site-a myapp
step berth generations site-a
berth generations site-a
step berth diff site-a
berth diff site-a
step berth rollback site-a
berth rollback site-a
BERTH_PROFILE=site-a myapp
step berth profiles
berth profiles

# Declarative: profiles/site-a.toml and site-b.toml say which versions, which config
# (rendered from profiles/templates/), which directories; apply converges, twice is a no-op.
step berth apply profiles/site-a.toml --dry-run
berth apply "$repo/profiles/site-a.toml" --dry-run
step berth apply profiles/site-a.toml
berth apply "$repo/profiles/site-a.toml"
step "berth apply profiles/site-a.toml   # again: unchanged"
berth apply "$repo/profiles/site-a.toml"
step berth apply profiles/site-b.toml
berth apply "$repo/profiles/site-b.toml"
BERTH_PROFILE=site-a myapp
BERTH_PROFILE=site-b myapp
step "echo 'workers = 4' >> \$BERTH_ROOT/etc/site-a/site.ini; berth config status site-a"
echo 'workers = 4' >>"$BERTH_ROOT/etc/site-a/site.ini"
berth config status site-a
step berth config diff site-a
berth config diff site-a

# Clean-up: what gc would free (generations kept: 1 per profile), then the invariants.
step berth gc --keep 1 --dry-run
berth gc --keep 1 --dry-run
step berth check
berth check
echo
echo "done. root: $BERTH_ROOT (a longer demo: bash examples/side-by-side.sh)"
