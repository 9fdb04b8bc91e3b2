#!/usr/bin/env bash
# Switch latency: `berth use` swapping one package version (durable: fsyncs included) for
# packages of 150, 15,000 and 150,000 files, beside `stow -R` of the same trees (default
# folding, and --no-folding up to 15,000 files). One hyperfine run per size.
# Usage: bench/switch.sh [SIZES...]   (default: 150 15000 150000)
source "$(dirname "$0")/common.sh"
build_berth
sizes=("${@:-150 15000 150000}")
read -r -a sizes <<<"${sizes[*]}"
command -v stow >/dev/null || { echo "stow is not installed (apt-get install stow)" >&2; exit 1; }

# make_tree DIR VERSION N: N files (100 per directory) under share/pkg, plus bin/pkg.
make_tree() {
  python3 - "$1" "$2" "$3" <<'PY'
import os, sys
d, version, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(f"{d}/bin", exist_ok=True)
with open(f"{d}/bin/pkg", "w") as f:
    f.write(f"#!/bin/sh\necho pkg {version}\n")
os.chmod(f"{d}/bin/pkg", 0o755)
for i in range(n - 1):
    sub = f"{d}/share/pkg/d{i // 100}"
    if i % 100 == 0:
        os.makedirs(sub, exist_ok=True)
    with open(f"{sub}/f{i}", "w") as f:
        f.write(f"{i} {version if i == 0 else ''}\n")
PY
}

results_section "Switch latency: bench/switch.sh"
json_files=()
for n in "${sizes[@]}"; do
  root="$WORK/root-$n"
  stowdir="$WORK/stow-$n"
  for v in 1 2; do
    make_tree "$stowdir/pkg-$v" "$v" "$n"
    mkdir -p "$WORK/src-$n-$v"
    cp -a "$stowdir/pkg-$v/." "$WORK/src-$n-$v/"
    printf '[package]\nname = "pkg"\nversion = "%s"\n' "$v" >"$WORK/src-$n-$v/berth.toml"
    "$BERTH" -q --root "$root" pack "$WORK/src-$n-$v" -o "$WORK/pkg-$n-$v.berth"
    "$BERTH" -q --root "$root" install "$WORK/pkg-$n-$v.berth"
    rm -rf "$WORK/src-$n-$v"
  done
  "$BERTH" -q --root "$root" use bench pkg@1
  # Stow targets that already hold real share/ and bin/ directories, as /usr/local does.
  mkdir -p "$WORK/target-$n/share" "$WORK/target-$n/bin" "$WORK/target-nf-$n/share" "$WORK/target-nf-$n/bin"
  stow -d "$stowdir" -t "$WORK/target-$n" pkg-1
  cmds=(
    --prepare "$BERTH -q --root $root use bench pkg@1" -n "berth use ($n files)" "$BERTH -q --root $root use bench pkg@2"
    --prepare "true" -n "stow -R ($n files)" "stow -d $stowdir -t $WORK/target-$n -R pkg-1"
  )
  runs=(--warmup 2 --min-runs 10)
  if [ "$n" -le 15000 ]; then
    stow --no-folding -d "$stowdir" -t "$WORK/target-nf-$n" pkg-1
    cmds+=(--prepare "true" -n "stow -R --no-folding ($n files)" "stow --no-folding -d $stowdir -t $WORK/target-nf-$n -R pkg-1")
  fi
  if command -v nix-env >/dev/null && [ "$n" -le 15000 ]; then
    # Nix (Debian's nix-bin, local store, no sandbox, no substituters): two generations of a
    # profile holding the same trees; --switch-generation only moves the profile link.
    # Beside it, `berth switch` does the same for berth (activate an existing generation).
    export NIX_CONFIG=$'sandbox = false\nsubstituters ='
    p1=$(nix-store --add "$stowdir/pkg-1")
    p2=$(nix-store --add "$stowdir/pkg-2")
    nixprof="$WORK/nixprof-$n/prof"
    mkdir -p "$(dirname "$nixprof")"
    nix-env -p "$nixprof" --set "$p1" && nix-env -p "$nixprof" --set "$p2"
    "$BERTH" -q --root "$root" use bench pkg@2 && "$BERTH" -q --root "$root" use bench pkg@1
    cmds+=(--prepare "nix-env -p $nixprof --switch-generation 1" -n "nix-env --switch-generation ($n files)" "nix-env -p $nixprof --switch-generation 2")
    cmds+=(--prepare "$BERTH -q --root $root switch bench 1" -n "berth switch ($n files)" "$BERTH -q --root $root switch bench 2")
  fi
  hyperfine "${runs[@]}" --export-json "$WORK/switch-$n.json" "${cmds[@]}"
  printf '\n%s files:\n\n' "$n" >>"$RESULTS"
  append_table "$WORK/switch-$n.json" 0
  json_files+=("$WORK/switch-$n.json")
done

python3 - "${json_files[@]}" >>"$RESULTS" <<'PY'
import json, sys
rows = [json.load(open(p))["results"] for p in sys.argv[1:]]
berth = [r[0]["median"] for r in rows]
print()
print("Flatness: berth use at the largest size / at the smallest size = "
      f"{berth[-1] / berth[0]:.2f}x (target within 1.5x).")
for r in rows:
    if "15000 files" in r[0]["command"]:
        print(f"At 15,000 files: stow -R / berth use = {r[1]['median'] / r[0]['median']:.1f}x"
              + (f"; stow -R --no-folding / berth use = {r[2]['median'] / r[0]['median']:.1f}x" if len(r) > 2 else "")
              + " (target at least 10x).")
PY
{
  printf '\nberth use: swaps pkg@1 for pkg@2 in profile "bench" (prepare switches back to pkg@1, so\n'
  printf 'every timed run builds a new generation under a fresh path and fsyncs it). stow -R restows\n'
  printf 'pkg-1 into a target that already has real share/ and bin/ directories.\n'
  if command -v nix-env >/dev/null; then
    printf -- '- nix-env --switch-generation and berth switch: both activate an existing generation\n'
    printf -- '  (a link flip); measured up to 15,000 files (nix-store --add of 150,000 files is slow).\n'
  else
    printf -- '- nix-env --switch-generation: not measured (apt-get install nix-bin to include it).\n'
  fi
} >>"$RESULTS"
echo "appended to $RESULTS"
