#!/usr/bin/env bash
# berth's quick start, end to end: build, pack two releases, install them side by side,
# inspect and verify them. Runs on a throw-away root (printed at the start).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --workspace --quiet --manifest-path "$repo/Cargo.toml"
berth() { "$repo/target/release/berth" "$@"; }
export BERTH_ROOT=$(mktemp -d /tmp/berth-quickstart.XXXXXX)
work=$(mktemp -d /tmp/berth-quickstart-pkgs.XXXXXX)
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
