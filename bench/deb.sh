#!/usr/bin/env bash
# Native package install (issue 9): `berth install` of a real multi-thousand-file .deb from
# Debian (python3-django, ~5,900 members, xz) into a fresh root, beside `dpkg-deb -x` of the
# same file into a fresh directory (target: <= 1.0x), and beside `dpkg-deb -x` followed by
# `sync -f` (the same durability berth gives: the entry is on disk before it is committed).
# Every timed run writes into a brand-new path; rounds alternate which command goes first;
# medians and ratios go to bench/RESULTS.md.
#
# usage: bench/deb.sh [ROUNDS] [RUNS_PER_ROUND]      (defaults 5 and 3)
#        DEB=/path/to/file.deb bench/deb.sh          (another package)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
rounds=${1:-5}
runs=${2:-3}
W=${BENCH_WORK:-$here/work}/deb
B=$repo/target/release/berth
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)"; exit 1; }
command -v dpkg-deb >/dev/null || { echo "needs dpkg-deb (apt-get install dpkg)"; exit 1; }
(cd "$repo" && cargo build --release -q)
mkdir -p "$W/runs" "$W/json"
deb=${DEB:-}
if [ -z "$deb" ]; then
  deb=$(ls "$W"/python3-django_*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    (cd "$W" && apt-get download python3-django >/dev/null)
    deb=$(ls "$W"/python3-django_*.deb | head -1)
  fi
fi
members=$(dpkg-deb -c "$deb" | wc -l)
# Each command must work before it is timed.
"$B" -q --root "$W/runs/check" install "$deb" 2>/dev/null
rm -rf "$W/runs/check"
clean="find $W/runs -mindepth 1 -maxdepth 1 -exec rm -rf {} +"
# ext4 does not hand out an inode freed in the last 60 s: after a big deletion, every file
# created scans past the freed ones (`recently_deleted` in perf), which doubled the time of
# whatever ran next, whichever tool it was. So nothing is deleted while the benchmark runs:
# old outputs go first, then a sync and 65 s; new ones (each at a new path) pile up under
# runs/ until the end.
eval "$clean"; sync; sleep 65
between_rounds() { sync; sleep 3; }
rm -f "$W"/json/deb-*.json
c_berth="$B -q --root $W/runs/b\$(date +%s%N) install $deb 2>/dev/null"
c_dpkg="dpkg-deb -x $deb $W/runs/d\$(date +%s%N)"
c_dpkg_sync="d=$W/runs/s\$(date +%s%N); dpkg-deb -x $deb \$d && sync -f \$d"
for r in $(seq "$rounds"); do
  between_rounds
  if [ $((r % 2)) = 1 ]; then
    hyperfine --runs "$runs" --export-json "$W/json/deb-$r.json" --style basic --prepare sync \
      --command-name "berth install .deb" "$c_berth" \
      --command-name "dpkg-deb -x" "$c_dpkg" \
      --command-name "dpkg-deb -x && sync -f" "$c_dpkg_sync"
  else
    hyperfine --runs "$runs" --export-json "$W/json/deb-$r.json" --style basic --prepare sync \
      --command-name "dpkg-deb -x && sync -f" "$c_dpkg_sync" \
      --command-name "dpkg-deb -x" "$c_dpkg" \
      --command-name "berth install .deb" "$c_berth"
  fi
done
eval "$clean"
python3 "$here/summarize.py" "$here/RESULTS.md" "Install a real .deb: bench/deb.sh" \
  "berth install .deb=dpkg-deb -x,berth install .deb=dpkg-deb -x && sync -f" \
  "$W"/json/deb-*.json \
  --note "Package: $(basename "$deb") ($members members, $(stat -c %s "$deb") bytes). Command lines (each run writes to a new path): \`$c_berth\`; \`$c_dpkg\`; \`$c_dpkg_sync\`." \
  --note "berth's time includes checking every member against the safe-extraction rules and the md5sums, hashing every file into the pool, and making the entry durable (syncfs) before its commit rename; \`dpkg-deb -x\` does none of these. Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "appended to $here/RESULTS.md"
