#!/usr/bin/env bash
# Install benchmark (issue 2): berth install v1 into a fresh root vs GNU tar extracting a
# tar.zst of the same tree; berth install v2 (1% changed) on top of v1 vs `cp -al` of the v2
# tree (one hard link per file: the floor for a deduplicating install); peak RSS of
# installing a 1 GiB package. Every timed run writes into a brand-new path; rounds
# alternate the commands; results (medians, ratios) go to bench/RESULTS.md.
#
# usage: bench/install.sh [ROUNDS] [RUNS_PER_ROUND]      (defaults 5 and 3)
#        SKIP_BIG=1 bench/install.sh                    (skip the 1 GiB peak-RSS run)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
rounds=${1:-5}
runs=${2:-3}
W=${BENCH_WORK:-$here/work}
B=$repo/target/release/berth
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)"; exit 1; }
(cd "$repo" && cargo build --release -q)
mkdir -p "$W/runs" "$W/json"
[ -d "$W/v1" ] || python3 "$here/gen-tree.py" "$W/v1" --version 1.0.0
[ -d "$W/v2" ] || python3 "$here/gen-tree.py" "$W/v2" --version 1.0.1 --change 1
# Packed again when berth is newer than the package (the format may have changed).
[ -f "$W/v1.berth" ] && [ ! "$B" -nt "$W/v1.berth" ] || "$B" -q pack "$W/v1" -o "$W/v1.berth"
[ -f "$W/v2.berth" ] && [ ! "$B" -nt "$W/v2.berth" ] || "$B" -q pack "$W/v2" -o "$W/v2.berth"
[ -f "$W/v1.tar.zst" ] || tar -C "$W/v1" --exclude=./berth.toml -I zstd -cf "$W/v1.tar.zst" .
[ -d "$W/template" ] || "$B" -q --root "$W/template" install "$W/v1.berth"
clean="find $W/runs -mindepth 1 -maxdepth 1 -exec rm -rf {} +"
# ext4 does not hand out an inode freed in the last 60 s: after a big deletion, every file
# created scans past the freed ones (`recently_deleted` in perf), which doubled the time of
# whatever ran next, whichever tool it was. So nothing is deleted while the benchmark runs:
# old outputs go first, then a sync and 65 s; new ones (each at a new path) pile up under
# runs/ until the end.
eval "$clean"; sync; sleep 65
between_rounds() { sync; sleep 3; }
rm -f "$W"/json/install-*.json
c_berth1="$B -q --root $W/runs/b\$(date +%s%N) install $W/v1.berth"
c_tar1="d=$W/runs/t\$(date +%s%N); mkdir \$d && tar -I zstd -xf $W/v1.tar.zst -C \$d"
# tar with the durability berth gives every install (issue 12's second row).
c_tar1s="d=$W/runs/s\$(date +%s%N); mkdir \$d && tar -I zstd -xf $W/v1.tar.zst -C \$d && sync -f \$d"
p_berth2="d=$W/runs/r\$(date +%s%N); cp -a $W/template \$d && echo \$d > $W/cur; sync"
c_berth2="$B -q --root \$(cat $W/cur) install $W/v2.berth"
c_cp2="cp -al $W/v2 $W/runs/c\$(date +%s%N)"
for r in $(seq "$rounds"); do
  between_rounds
  # Alternate which pair goes first from round to round.
  if [ $((r % 2)) = 1 ]; then order=(fresh update); else order=(update fresh); fi
  for what in "${order[@]}"; do
    case $what in
      fresh) hyperfine --runs "$runs" --export-json "$W/json/install-$r-fresh.json" --style basic \
        --prepare sync --command-name "berth install v1" "$c_berth1" \
        --prepare sync --command-name "tar -I zstd -xf v1" "$c_tar1" \
        --prepare sync --command-name "tar -I zstd -xf v1 && sync -f" "$c_tar1s" ;;
      update) hyperfine --runs "$runs" --export-json "$W/json/install-$r-update.json" --style basic \
        --prepare "$p_berth2" --command-name "berth install v2 on v1" "$c_berth2" \
        --prepare sync --command-name "cp -al v2" "$c_cp2" ;;
    esac
  done
done
notes=()
if [ -z "${SKIP_BIG:-}" ]; then
  [ -d "$W/big" ] || python3 "$here/gen-tree.py" "$W/big" --big-gib 1 --name big
  [ -f "$W/big.berth" ] || "$B" -q pack "$W/big" -o "$W/big.berth" --level 1
  between_rounds
  rss=$( { /usr/bin/time -v "$B" -q --root "$W/runs/big$(date +%s%N)" install "$W/big.berth" >/dev/null; } 2>&1 \
        | awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}')
  notes+=(--note "Peak RSS of \`berth install\` of a 1 GiB package (64 files of 16 MiB, \`/usr/bin/time -v\`): $((rss / 1024)) MiB (target: under 64 MiB).")
fi
eval "$clean"
python3 "$here/summarize.py" "$here/RESULTS.md" "Install" \
  "berth install v1=tar -I zstd -xf v1,berth install v1=tar -I zstd -xf v1 && sync -f,berth install v2 on v1=cp -al v2" \
  "$W"/json/install-*.json "${notes[@]}" \
  --note "Command lines (each run writes to a new path): \`$c_berth1\`; \`$c_tar1\`; \`$c_tar1s\`; \`$c_berth2\` (prepared by \`$p_berth2\`); \`$c_cp2\`." \
  --note "Where the fresh install's time goes (\`RUST_LOG=debug berth install\`, 3 runs on 2026-11-26 with the seekable v1.berth): extraction (decode, hash, create 15,000 files on 3 worker threads) 645-685 ms; then the commit: \`.berth/\` and sealing 17-20 ms, \`syncfs\` of the staged entry 440-500 ms, linking 14,859 new files into the pool 105-125 ms, a second \`syncfs\` and the rename 20-28 ms. \`tar -I zstd -xf\` took 880-1,000 ms in the same minutes and \`sync -f\` after it 480-530 ms: the durability flush alone is about half of tar's time on this disk, and tar pays none of it. Tried and rejected, measured slower: \`sync_file_range\` per small file (inline, and on a separate flusher thread: the flush at the end fell from ~470 to ~265 ms but extraction grew by 400-500 ms, since the kernel's per-file writeback work competes for the same 2 cores), and a background \`syncfs\` loop during extraction. The pool stays (issue 2): dropping it would save the ~110 ms of pool links only." \
  --note "Tree: bench/gen-tree.py (15,000 files, ~80 MiB, mixed sizes, deterministic); v2 changes 1% of the files. berth's time includes hashing every file, deduplication against the pool, and making the entry durable (syncfs) before its commit rename; tar and cp do neither."
