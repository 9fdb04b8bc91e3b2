#!/usr/bin/env bash
# The side-by-side story, end to end: two services (site-a, site-b) run two versions of one
# package at once, through the same command on PATH; site-a switches to a new release
# atomically and rolls back in one step. Runs on a throwaway root; needs only cargo.
#   bash examples/side-by-side.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --release -q
berth_bin="$PWD/target/release/berth"
berth() { "$berth_bin" "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export BERTH_ROOT="$work/root"
step() { printf '\n$ %s\n' "$*"; "$@"; }

# Three releases of "webapp" (each prints its version) and one of "php".
release() { # name version
  local src="$work/src/$1-$2"
  mkdir -p "$src/bin" "$src/share/$1"
  printf '[package]\nname = "%s"\nversion = "%s"\n' "$1" "$2" >"$src/berth.toml"
  printf '#!/bin/sh\necho "%s %s (profile $BERTH_PROFILE)"\n' "$1" "$2" >"$src/bin/$1"
  chmod +x "$src/bin/$1"
  echo "$2" >"$src/share/$1/VERSION"
  berth -q pack "$src" -o "$work/$1-$2.berth"
}
release webapp 7.59
release webapp 7.60
release webapp 10.1.0
release php 8.2.7

step berth install "$work"/webapp-7.59.berth "$work"/webapp-7.60.berth "$work"/webapp-10.1.0.berth "$work"/php-8.2.7.berth
step berth use site-a webapp@7.59 php@8.2.7
step berth use site-b webapp@10.1.0 php@8.2.7

# One command on PATH, two versions at once: the shim picks the profile per service.
export PATH="$BERTH_ROOT/shims:$PATH"
step env BERTH_PROFILE=site-a webapp
step env BERTH_PROFILE=site-b webapp
mkdir -p "$work/srv/site-b/web"
echo site-b >"$work/srv/site-b/.berth-profile"
step sh -c "cd '$work/srv/site-b/web' && webapp"

# site-a gets the new release atomically; site-b is untouched.
step berth use site-a webapp@7.60
step env BERTH_PROFILE=site-a webapp
step env BERTH_PROFILE=site-b webapp
step berth diff site-a
step berth generations site-a

# Roll back in one step.
step berth rollback site-a
step env BERTH_PROFILE=site-a webapp
step berth profiles
step berth which webapp --profile site-b
step berth run site-b -- webapp

# Check what the story claims, so the script fails loudly if it ever stops being true.
[ "$(BERTH_PROFILE=site-a webapp)" = "webapp 7.59 (profile site-a)" ]
[ "$(BERTH_PROFILE=site-b webapp)" = "webapp 10.1.0 (profile site-b)" ]
printf '\nside-by-side: OK\n'
