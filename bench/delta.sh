#!/usr/bin/env bash
# Bytes on the wire for a release: v1 (1000 files of 1-64 KiB, half text-like, half random)
# installed by name over a real nginx, then v2 with 1% of the files changed, fetched by range
# requests. Prints the package sizes, what nginx sent ($body_bytes_sent) for each, and the
# ratio v2/v1. No timing; one run. usage: bench/delta.sh [FILES] [CHANGED]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo_dir=$(cd "$here/.." && pwd)
N=${1:-1000}
C=${2:-10}
(cd "$repo_dir" && cargo build --release -q)
B="$repo_dir/target/release/berth"
W=$(mktemp -d /tmp/berth-delta-XXXXXX)
trap 'kill $(cat $W/nginx/nginx.pid 2>/dev/null) 2>/dev/null || true; rm -rf $W' EXIT
python3 - "$W" "$N" "$C" "${SEED:-24}" <<'EOF'
import os, random, sys
w, n, c, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = random.Random(seed)
words = [("".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(2, 9)))) for _ in range(2000)]
def content(seed, size):
    g = random.Random(seed)
    if seed % 2:
        return bytes(g.getrandbits(8) for _ in range(size))
    out = []
    total = 0
    while total < size:
        line = " ".join(g.choice(words) for _ in range(g.randint(3, 12))) + "\n"
        out.append(line); total += len(line)
    return "".join(out).encode()[:size]
sizes = [int(1024 * 64 ** r.random()) for _ in range(n)]
changed = set(r.sample(range(n), c))
for v in ("1.0.0", "2.0.0"):
    d = os.path.join(w, "src", v)
    for i, size in enumerate(sizes):
        p = os.path.join(d, "share", "app", "d%02d" % (i % 40), "f%04d" % i)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        seed = i + (100000 if v == "2.0.0" and i in changed else 0)
        open(p, "wb").write(content(seed, size))
    open(os.path.join(d, "berth.toml"), "w").write('[package]\nname = "app"\nversion = "%s"\n' % v)
EOF
cd "$W"
$B pack src/1.0.0 -o . >/dev/null
$B pack src/2.0.0 -o . >/dev/null
$B key generate k >/dev/null 2>&1
$B repo init repo --channel stable >/dev/null
$B repo publish repo app-1.0.0.berth app-2.0.0.berth --key k.key >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p nginx
user=""; [ "$(id -u)" = 0 ] && user="user root;"
cat > nginx/nginx.conf <<EOF
$user
worker_processes 1; pid $W/nginx/nginx.pid; error_log $W/nginx/error.log;
events { worker_connections 64; }
http {
  log_format b '\$status \$uri \$body_bytes_sent \$http_range';
  access_log $W/nginx/access.log b;
  client_body_temp_path $W/nginx/cb; proxy_temp_path $W/nginx/p; fastcgi_temp_path $W/nginx/f;
  uwsgi_temp_path $W/nginx/u; scgi_temp_path $W/nginx/s;
  server { listen 127.0.0.1:$port; root $W/repo; }
}
EOF
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
$nginx_bin -p "$W/nginx" -e "$W/nginx/error.log" -c "$W/nginx/nginx.conf"
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
R="--root $W/root"
$B $R repo add origin "http://127.0.0.1:$port/" --key "$(cat k.pub)" --channel stable >/dev/null
$B $R update >/dev/null
$B $R -q install app@1.0.0
$B $R install app@2.0.0 2>&1 | grep -E "fetched|downloaded" || true
sent() { awk -v f="$1" '$2 ~ f { s += $3; n++ } END { printf "%d %d", s, n }' nginx/access.log; }
s1=$(stat -c %s app-1.0.0.berth); s2=$(stat -c %s app-2.0.0.berth)
read b1 n1 <<<"$(sent app-1.0.0.berth)"
read b2 n2 <<<"$(sent app-2.0.0.berth)"
echo "files=$N changed=$C  v1: $s1 bytes, sent $b1 by $n1 request(s)  v2: $s2 bytes, sent $b2 by $n2 request(s)"
python3 -c "print('v2/v1 = %.2f%%' % (100.0 * $b2 / $b1))"
