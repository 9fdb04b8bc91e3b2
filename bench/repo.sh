#!/usr/bin/env bash
# Repository install benchmark (issue 10): `berth install bench@1.0.0` of the 80 MB release
# (bench/gen-tree.py, packed as .berth) from a signed repository served by a real nginx on
# 127.0.0.1, beside `curl` downloading the same artifact followed by `tar -I zstd -xf` of it
# (and, for information, `curl | tar -I zstd -x` streaming, and `berth install` of the same
# file from local disk, which isolates what the repository path adds). Every timed run writes into a
# brand-new path (berth: a fresh root that has the repository's verified index but an empty
# cache, so every run downloads); rounds alternate which command goes first; medians and
# ratios go to bench/RESULTS.md with the machine.
#
# usage: bench/repo.sh [ROUNDS] [RUNS_PER_ROUND]      (defaults 5 and 3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
rounds=${1:-5}
runs=${2:-3}
W=${BENCH_WORK:-$here/work}/repo
B=$repo/target/release/berth
for t in hyperfine curl zstd; do command -v $t >/dev/null || { echo "needs $t"; exit 1; }; done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
(cd "$repo" && cargo build --release -q)
mkdir -p "$W/runs" "$W/json" "$W/nginx"
[ -d "$W/v1" ] || python3 "$here/gen-tree.py" "$W/v1" --version 1.0.0
[ -f "$W/bench-1.0.0.berth" ] || "$B" -q pack "$W/v1" -o "$W/bench-1.0.0.berth"
if [ ! -f "$W/srv/index.json.minisig" ]; then
  rm -rf "$W/srv" "$W/release.key" "$W/release.pub"
  "$B" -q key generate "$W/release"
  "$B" -q repo init "$W/srv" --channel stable
  "$B" -q repo publish "$W/srv" "$W/bench-1.0.0.berth" --key "$W/release.key"
fi
artifact=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['packages'][0]['path'])" "$W/srv/index.json")

# nginx on a free port, its own config, pid file, temp dirs and logs; stopped on exit.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
user=""; [ "$(id -u)" = 0 ] && user="user root;"
cat >"$W/nginx/nginx.conf" <<EOF
$user
daemon off;
worker_processes 1;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $W/nginx/cb; proxy_temp_path $W/nginx/px; fastcgi_temp_path $W/nginx/fc;
  uwsgi_temp_path $W/nginx/uw; scgi_temp_path $W/nginx/sc;
  default_type application/octet-stream;
  sendfile on;
  server { listen 127.0.0.1:$port; root $W/srv; }
}
EOF
"$NGINX" -p "$W/nginx" -e "$W/nginx/error.log" -c "$W/nginx/nginx.conf" &
nginx_pid=$!
trap 'kill $nginx_pid 2>/dev/null; wait $nginx_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/index.json" && break; sleep 0.1; done
url="http://127.0.0.1:$port/"

# A template root that trusts the repository and holds its verified index (no cache).
rm -rf "$W/template"
"$B" -q --root "$W/template" repo add origin "$url" --key "$W/release.pub"
"$B" -q --root "$W/template" update

clean="find $W/runs -mindepth 1 -maxdepth 1 -exec rm -rf {} +"
# ext4 does not hand out an inode freed in the last 60 s: after a big deletion, every file
# created scans past the freed ones (`recently_deleted` in perf), which doubled the time of
# whatever ran next, whichever tool it was. So nothing is deleted while the benchmark runs:
# old outputs go first, then a sync and 65 s; new ones (each at a new path) pile up under
# runs/ until the end.
eval "$clean"; sync; sleep 65
between_rounds() { sync; sleep 3; }
rm -f "$W"/json/repo-*.json
p_berth="d=$W/runs/b\$(date +%s%N); cp -a $W/template \$d && echo \$d > $W/cur; sync"
c_berth="$B -q --root \$(cat $W/cur) install bench@1.0.0"
c_local="$B -q --root \$(cat $W/cur) install $W/bench-1.0.0.berth"
c_curl="d=$W/runs/c\$(date +%s%N); mkdir \$d && curl -sf -o \$d/a.berth $url$artifact && tar -I zstd -xf \$d/a.berth -C \$d"
c_pipe="d=$W/runs/p\$(date +%s%N); mkdir \$d && curl -sf $url$artifact | tar -I zstd -x -C \$d"
for r in $(seq "$rounds"); do
  between_rounds
  if [ $((r % 2)) = 1 ]; then
    hyperfine --runs "$runs" --export-json "$W/json/repo-$r.json" --style basic \
      --prepare "$p_berth" --command-name "berth install from repo" "$c_berth" \
      --prepare sync --command-name "curl + tar -I zstd -xf" "$c_curl" \
      --prepare sync --command-name "curl | tar -I zstd -x" "$c_pipe" \
      --prepare "$p_berth" --command-name "berth install local file" "$c_local"
  else
    hyperfine --runs "$runs" --export-json "$W/json/repo-$r.json" --style basic \
      --prepare "$p_berth" --command-name "berth install local file" "$c_local" \
      --prepare sync --command-name "curl + tar -I zstd -xf" "$c_curl" \
      --prepare sync --command-name "curl | tar -I zstd -x" "$c_pipe" \
      --prepare "$p_berth" --command-name "berth install from repo" "$c_berth"
  fi
done
eval "$clean"
size=$(stat -c %s "$W/bench-1.0.0.berth")
python3 "$here/summarize.py" "$here/RESULTS.md" "Install from a repository" \
  "berth install from repo=curl + tar -I zstd -xf,berth install from repo=curl | tar -I zstd -x,berth install from repo=berth install local file,berth install local file=curl + tar -I zstd -xf" \
  "$W"/json/repo-*.json \
  --note "Artifact: bench/gen-tree.py's 15,000-file, ~80 MiB tree packed as bench-1.0.0.berth ($size bytes, zstd -3), published with \`berth repo publish\` and served by nginx on 127.0.0.1 (sendfile on). Command lines (each run writes to a new path): \`$c_berth\` (prepared by \`$p_berth\`: a fresh root holding the verified index, empty cache); \`$c_curl\`; \`$c_pipe\`; \`$c_local\` (same preparation)." \
  --note "berth's run includes: the signed index's lookup, the download into cache/ (hashed, cut at the signed size) and the store install (decode, hash every file, dedup into the pool, syncfs, commit rename). tar does no hashing and no durability flush. The download runs on its own thread into cache/ while the install reads the growing file (download, hashing and extraction overlap; the staged entry is committed only after the artifact's size and sha256 match the signed index), so the time over a local install is the transfer itself; the rest of the gap to curl + tar is the durable store install, the same as in the Install section."
