#!/usr/bin/env bash
# Shim overhead: the same tiny binary run directly, through berth's shim, rbenv's shim and
# mise's shim, in one hyperfine run. Needs hyperfine, cc, rbenv (Debian package) and npm
# (for @jdxcode/mise-linux-x64); rbenv and mise are skipped with a note when missing.
source "$(dirname "$0")/common.sh"
build_berth

# The tiny binary.
printf 'int main(void) { return 0; }\n' >"$WORK/tiny.c"
cc -O2 -o "$WORK/tiny" "$WORK/tiny.c"

# berth: a package whose bin/tiny is that binary, used by profile "bench".
export BERTH_ROOT="$WORK/berth-root"
mkdir -p "$WORK/pkg/bin"
cp "$WORK/tiny" "$WORK/pkg/bin/tiny"
printf '[package]\nname = "tiny"\nversion = "1.0"\n' >"$WORK/pkg/berth.toml"
"$BERTH" -q pack "$WORK/pkg" -o "$WORK/tiny.berth"
"$BERTH" -q install "$WORK/tiny.berth"
"$BERTH" -q use bench tiny
export BERTH_PROFILE=bench

# hyperfine -n NAME CMD pairs.
cmds=(-n "direct exec" "$WORK/tiny" -n "berth shim" "$BERTH_ROOT/shims/tiny")
notes=()

# The one-exec floor: a static C program that does nothing but execv the binary.
printf '#include <unistd.h>\nint main(int c, char **v) { (void)c; execv("%s", v); return 127; }\n' \
  "$WORK/tiny" >"$WORK/trampoline.c"
if cc -O2 -static -o "$WORK/trampoline" "$WORK/trampoline.c" 2>/dev/null; then
  cmds+=(-n "static C execv trampoline (floor)" "$WORK/trampoline")
else
  notes+=("static C trampoline: no static libc (apt-get install libc6-dev): skipped")
fi

# The shim as it was before issue 12: the workspace's dynamically linked build of the same
# crate (berth itself installs the static one build.rs makes), in a copy of the root.
if [ -x "$REPO/target/release/berth-shim" ]; then
  cp -a "$BERTH_ROOT" "$WORK/dynamic-root"
  chmod u+w "$WORK/dynamic-root/libexec"
  rm -f "$WORK/dynamic-root/libexec/berth-shim"
  cp "$REPO/target/release/berth-shim" "$WORK/dynamic-root/libexec/berth-shim"
  cmds+=(-n "berth shim, dynamic (before issue 12)" "$WORK/dynamic-root/shims/tiny")
else
  notes+=("no dynamic berth-shim in target/release: that row skipped")
fi

# rbenv: a "version" holding the same binary.
if command -v rbenv >/dev/null; then
  export RBENV_ROOT="$WORK/rbenv" RBENV_VERSION=bench
  mkdir -p "$RBENV_ROOT/versions/bench/bin"
  cp "$WORK/tiny" "$RBENV_ROOT/versions/bench/bin/tiny"
  rbenv rehash
  cmds+=(-n "rbenv shim" "$RBENV_ROOT/shims/tiny")
else
  notes+=("rbenv not installed: skipped")
fi

# mise: the real binary from npm; a core-tool install directory holding the same binary.
mise_bin=""
if command -v npm >/dev/null && (cd "$WORK" && npm pack -q @jdxcode/mise-linux-x64 >/dev/null 2>&1); then
  tar -xzf "$WORK"/jdxcode-mise-linux-x64-*.tgz -C "$WORK"
  mise_bin="$WORK/package/bin/mise"
  chmod +x "$mise_bin"
  export MISE_DATA_DIR="$WORK/mise/data" MISE_CONFIG_DIR="$WORK/mise/config" \
    MISE_CACHE_DIR="$WORK/mise/cache" MISE_STATE_DIR="$WORK/mise/state"
  mkdir -p "$MISE_DATA_DIR/installs/node/20.0.0/bin" "$WORK/mise/proj"
  cp "$WORK/tiny" "$MISE_DATA_DIR/installs/node/20.0.0/bin/tiny"
  printf '[tools]\nnode = "20.0.0"\n' >"$WORK/mise/proj/mise.toml"
  (cd "$WORK/mise/proj" && "$mise_bin" trust -q && "$mise_bin" reshim)
  cmds+=(-n "mise shim" "$MISE_DATA_DIR/shims/tiny")
  notes+=("mise $("$mise_bin" --version)")
else
  notes+=("mise (npm @jdxcode/mise-linux-x64) not available: skipped")
fi

# Every shim must really reach the binary before it is timed.
for c in "${cmds[@]}"; do
  [[ $c == /* ]] || continue
  (cd "$WORK/mise/proj" 2>/dev/null || cd "$WORK"; "$c") || { echo "$c fails" >&2; exit 1; }
done

cd "$WORK/mise/proj" 2>/dev/null || cd "$WORK"
hyperfine -N --warmup 20 --min-runs 300 --export-json "$WORK/shim.json" "${cmds[@]}"

results_section "Shim overhead: bench/shim.sh"
append_table "$WORK/shim.json" 0 
{
  printf '\nFirst row: direct exec of the tiny binary; the others run the same binary through a shim\n'
  printf '(berth: `<root>/shims/tiny`, BERTH_PROFILE=bench; rbenv: RBENV_VERSION=bench; mise: a\n'
  printf 'mise.toml in the working directory). hyperfine -N, warmup 20, at least 300 runs.\n'
  printf 'The floor row is a static C program that only execv()s the binary: one exec more than\n'
  printf 'direct, nothing else. The berth shim row is the static shim berth installs (build.rs,\n'
  printf 'crt-static, not PIE); the dynamic row is the same crate as the workspace builds it.\n'
  for n in "${notes[@]}"; do printf -- '- %s\n' "$n"; done
} >>"$RESULTS"
echo "appended to $RESULTS"
