#!/usr/bin/env bash
# Size cost of the seekable .berth (issue 12, point 3): `berth pack` of the benchmark tree
# (bench/gen-tree.py, 15,000 files) against the same tar stream compressed as one zstd frame
# at the same level (`zstd -d | zstd -3`), which is what pack wrote before the framing.
# Measures bytes, not time, so it may run on a busy machine. Appends to bench/RESULTS.md.
#
# usage: bench/seekable-size.sh            (BENCH_WORK=DIR reuses install.sh's trees)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
W=${BENCH_WORK:-$here/work}
B=$repo/target/release/berth
(cd "$repo" && cargo build --release -q)
mkdir -p "$W"
[ -d "$W/v1" ] || python3 "$here/gen-tree.py" "$W/v1" --version 1.0.0
out="$W/size-v1.berth"
rm -f "$out" "$out.single.zst"
"$B" -q pack "$W/v1" -o "$out"
zstd -q -d -c "$out" | zstd -q -3 -c >"$out.single.zst"
read -r framed single frames < <(python3 - "$out" "$out.single.zst" <<'PY'
import os, struct, sys
b = open(sys.argv[1], "rb").read()
n, _, magic = struct.unpack("<IBI", b[-9:])
assert magic == 0x8F92EAB1, "no seek table"
print(len(b), os.path.getsize(sys.argv[2]), n)
PY
)
pct=$(python3 -c "print(f'{($framed - $single) / $single * 100:.2f}')")
echo "seekable .berth: $framed bytes in $frames frames; one frame: $single bytes; cost +$pct%"
{
  printf '\n### Seekable .berth size: bench/seekable-size.sh (%s)\n\n' "$(date -u +%Y-%m-%dT%H:%MZ)"
  printf '| package of bench/gen-tree.py v1 (15,000 files, ~80 MiB), level 3 | bytes |\n'
  printf '| --- | ---: |\n'
  printf '| `berth pack` (seekable: %s frames + seek table) | %s |\n' "$frames" "$framed"
  printf '| same tar stream, one zstd frame (`zstd -d \\| zstd -3`) | %s |\n' "$single"
  printf '\nSize cost of the framing: **+%s%%** (target: under 3%%).\n' "$pct"
} >>"$here/RESULTS.md"
rm -f "$out" "$out.single.zst"
