#!/usr/bin/env bash
# A/B of two berth builds on one machine, in one run: fresh install of bench/install.sh's v1
# (15,000 files), rounds alternate which build goes first; tar as the reference.
# usage: OLD=/path/to/old/berth bench/ab-install.sh   (build the old commit in a worktree)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
W=${BENCH_WORK:-$here/work}
OLD=${OLD:?set OLD to the older berth binary}
NEW=${NEW:-$(dirname "$here")/target/release/berth}
mkdir -p $W/runs $W/json
for r in 1 2 3 4; do
  find $W/runs -mindepth 1 -maxdepth 1 -exec rm -rf {} +; sync; sleep 5
  if [ $((r % 2)) = 1 ]; then a=OLD; b=NEW; else a=NEW; b=OLD; fi
  hyperfine --runs 3 --export-json $W/json/ab-$r.json --style basic --prepare sync \
    --command-name "berth $a" "${!a} -q --root $W/runs/x\$(date +%s%N) install $W/v1.berth" \
    --command-name "berth $b" "${!b} -q --root $W/runs/y\$(date +%s%N) install $W/v1.berth" \
    --command-name "tar -I zstd -xf v1" "d=$W/runs/t\$(date +%s%N); mkdir \$d && tar -I zstd -xf $W/v1.tar.zst -C \$d"
done
find $W/runs -mindepth 1 -maxdepth 1 -exec rm -rf {} +
