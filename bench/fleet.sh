#!/usr/bin/env bash
# Fleet benchmark (issue 24): N hosts as network namespaces (examples/fleet/netns.sh), one
# nginx serving a signed repository, one run each for N = 10 and 50 (or the N given).
#
# Per N, a release v1 of one service `app` (200 members: its program, VERSION, 198 files of
# 16 KiB that zstd cannot shrink) and then v2 (1% of the members changed: VERSION and one
# data file) go out three ways, each on fresh directories, all hosts in parallel:
#   - Ansible: examples/fleet/site.yml (berth.core.repo with update, then canary, 30%, the
#     rest: berth.core.apply, with the service's restart and health check), forks = N;
#   - berth per host: `ip netns exec hK sh -c 'berth update && berth apply FILE'` for every
#     host at once (xargs -P N): berth's own time without Ansible;
#   - curl | tar per host: `ip netns exec hK sh -c 'curl URL | tar -I zstd -x'` (xargs -P N):
#     the do-it-yourself anchor (no signature, no health check, no fsync, no rollback).
# Wall time of each, and the bytes nginx sent per host (its access log's $body_bytes_sent,
# summed per client address; requests with a Range header counted). The v2 bytes measure
# whatever the client does: a full download until berth fetches only changed frames.
# Appends a section to bench/RESULTS.md. Needs root (namespaces).
#
# usage: bench/fleet.sh [N...]        (default: 10 50)
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ "$(id -u)" = 0 ] || { echo "bench/fleet.sh needs root (network namespaces)" >&2; exit 1; }
for t in ip nginx curl zstd ansible-playbook python3; do
  command -v $t >/dev/null || [ -x /usr/sbin/$t ] || { echo "needs $t" >&2; exit 1; }
done
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 50)
build_berth
NETNS="$REPO/examples/fleet/netns.sh"
PREFIX="bfb$$"
MEMBERS=198
trap 'bash "$NETNS" down "$PREFIX" >/dev/null 2>&1 || true' EXIT

# --- The release: v1 and v2 (1% of the members changed), signed, in one repository.
make_app() { # make_app VERSION CHANGED_FILE
  local src="$WORK/src/app-$1"
  mkdir -p "$src/bin" "$src/share/svc/data"
  cp "$REPO/examples/fleet/svc.py" "$src/bin/svc"
  chmod 755 "$src/bin/svc"
  printf '%s\n' "$1" >"$src/share/svc/VERSION"
  printf '[package]\nname = "app"\nversion = "%s"\n' "$1" >"$src/berth.toml"
  python3 - "$src/share/svc/data" "$MEMBERS" "$2" <<'PY'
import os, random, sys
d, n, changed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    r = random.Random(i * 1000 + (1 if i == changed else 0))
    with open(os.path.join(d, "f%03d" % i), "wb") as f:
        f.write(r.randbytes(16384))
PY
  "$BERTH" -q pack "$src" -o "$WORK"
}
make_app 1.0 -1
make_app 2.0 7
"$BERTH" -q key generate "$WORK/release"
"$BERTH" -q repo init "$WORK/srv" --channel stable
"$BERTH" -q repo publish "$WORK/srv" "$WORK/app-1.0.berth" --key "$WORK/release.key"
cp "$WORK/srv/index.json" "$WORK/srv/index.json.minisig" "$WORK/"
"$BERTH" -q repo publish "$WORK/srv" "$WORK/app-2.0.berth" --key "$WORK/release.key"
v2_index=$(cat "$WORK/srv/index.json")
path_of() { python3 -c "import json,sys; print([p['path'] for p in json.load(open(sys.argv[1]))['packages'] if p['version']==sys.argv[2]][0])" "$WORK/srv/index.json" "$1"; }
p1=$(path_of 1.0); p2=$(path_of 2.0)
# Serve v1 only (serial 1) until the v2 runs.
serve() { if [ "$1" = 1 ]; then cp "$WORK/index.json" "$WORK/index.json.minisig" "$WORK/srv/"; else printf '%s' "$v2_index" >"$WORK/srv/index.json"; "$BERTH" -q key sign "$WORK/srv/index.json" --key "$WORK/release.key"; fi; }

now() { date +%s.%N; }
# bytes PHASE_START_LINE: per host (10.77.0.K) body bytes and ranged requests since that
# line of the access log: "median_bytes total_bytes ranged_requests".
bytes_since() {
  tail -n +"$(($1 + 1))" "$fleet/nginx/access.log" | python3 -c '
import sys, statistics, collections
per, ranged = collections.Counter(), 0
for l in sys.stdin:
    f = l.split(" ")
    if f[0] == "10.77.0.254": continue
    per[f[0]] += int(f[4])
    ranged += f[5].strip() != "\"-\""
v = sorted(per.values()) or [0]
print(int(statistics.median(v)), sum(v), ranged)'
}
loglines() { wc -l <"$fleet/nginx/access.log"; }

rows=()
for n in "${sizes[@]}"; do
  fleet="$WORK/n$n"
  mkdir -p "$fleet"
  bash "$NETNS" down "$PREFIX" >/dev/null 2>&1 || true
  serve 1
  bash "$NETNS" up "$n" "$PREFIX" "$fleet" "$WORK/srv"
  hosts=$(seq "$n")

  # Ansible: site.yml with one service, forks = N.
  ansible_run() {
    (cd "$REPO/examples/fleet" && HOME="$fleet" ANSIBLE_LOCAL_TEMP="$fleet/atmp" ANSIBLE_REMOTE_TEMP="$fleet/atmp" \
      ANSIBLE_FORKS="$n" ANSIBLE_NOCOLOR=1 ansible-playbook -i "$fleet/inventory.ini" site.yml \
      -e "berth=$BERTH" -e "repo_key=$WORK/release.pub" \
      -e "{\"services\": [{\"name\": \"app\", \"port\": 8001}], \"versions\": {\"app\": \"$1\"}}" \
      >"$fleet/ansible-$1.log" 2>&1) || { tail -30 "$fleet/ansible-$1.log"; exit 1; }
  }
  # berth per host, no Ansible: its own roots and a service on another port.
  for k in $hosts; do
    d="$fleet/direct/h$k"; mkdir -p "$d/run"
    for v in 1.0 2.0; do
      cat >"$d/app-$v.toml" <<EOF
profile = "app"
[packages]
app = "$v"
[service]
exec = "svc 8101"
restart = 'p=$d/run/app.pid; if [ -s \$p ]; then old=\$(cat \$p); kill \$old 2>/dev/null; i=0; while kill -0 \$old 2>/dev/null && ! grep -q "^State:.*Z" /proc/\$old/status 2>/dev/null && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i+1)); done; fi; svc 8101 >>$d/run/app.log 2>&1 & echo \$! > \$p'
health = "curl -fsS -m 2 http://127.0.0.1:8101/health"
health_timeout = "30s"
EOF
    done
    "$BERTH" -q --root "$d/root" repo add origin http://10.77.0.254/ --key "$WORK/release.pub"
  done
  direct_run() {
    printf '%s\n' $hosts | xargs -P "$n" -I{} ip netns exec "$PREFIX-h{}" sh -c \
      "'$BERTH' -q --root '$fleet/direct/h{}/root' update && '$BERTH' -q --root '$fleet/direct/h{}/root' apply '$fleet/direct/h{}/app-$1.toml'"
  }
  diy_run() { # diy_run VERSION PATH
    printf '%s\n' $hosts | xargs -P "$n" -I{} ip netns exec "$PREFIX-h{}" sh -c \
      "mkdir -p '$fleet/diy/h{}/$1' && curl -sf http://10.77.0.254/$2 | tar -I zstd -x -C '$fleet/diy/h{}/$1'"
  }

  for v in 1.0 2.0; do
    p=$p1; [ $v = 2.0 ] && p=$p2
    [ $v = 2.0 ] && serve 2
    sync
    l=$(loglines); t=$(now); ansible_run $v; ta=$(python3 -c "print($(now)-$t)"); ba=$(bytes_since "$l")
    sync
    l=$(loglines); t=$(now); direct_run $v; td=$(python3 -c "print($(now)-$t)"); bd=$(bytes_since "$l")
    sync
    l=$(loglines); t=$(now); diy_run $v "$p"; tc=$(python3 -c "print($(now)-$t)"); bc=$(bytes_since "$l")
    rows+=("$n $v $ta $td $tc $ba $bd $bc")
    echo "N=$n v$v: ansible ${ta}s, berth ${td}s, curl|tar ${tc}s; bytes (median, total, ranged) ansible: $ba; berth: $bd; curl: $bc"
  done
  # Every host runs v2 now (checked through its service, in its namespace).
  for k in $hosts; do
    got=$(ip netns exec "$PREFIX-h$k" curl -fsS http://127.0.0.1:8001/version)
    [ "$got" = 2.0 ] || { echo "h$k runs $got, not 2.0" >&2; exit 1; }
  done
  bash "$NETNS" down "$PREFIX"
done

s1=$(stat -c %s "$WORK/app-1.0.berth"); s2=$(stat -c %s "$WORK/app-2.0.berth")
{
  printf '\n## Fleet: bench/fleet.sh (%s)\n\n' "$(date -u +%Y-%m-%dT%H:%MZ)"
  printf 'Machine: %s. Load average at the end: %s.\n\n' "$(machine)" "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf 'Command: `bench/fleet.sh %s`, one run each. `app` v1: %s bytes (200 members, 198 of them 16 KiB of noise); v2: %s bytes, 2 of 200 members changed (1%%).\n\n' "${sizes[*]}" "$s1" "$s2"
  python3 - "${rows[@]}" <<'PY'
import sys
rows = [r.split() for r in sys.argv[1:]]
v1 = {r[0]: int(r[5]) for r in rows if r[1] == "1.0"}
print("| hosts | release | Ansible site.yml | berth per host | curl \\| tar per host | Ansible / curl\\|tar | berth / curl\\|tar "
      "| bytes/host, Ansible run | of v1's | bytes/host, curl | ranged requests |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for n, v, ta, td, tc, ma, _, ra, md, _, rd, mc, _, _ in rows:
    ta, td, tc = float(ta), float(td), float(tc)
    share = f"{int(ma) / v1[n]:.1%}" if n in v1 and v1[n] else "-"
    print(f"| {n} | v{v} | {ta:.1f} s | {td:.1f} s | {tc:.2f} s | {ta/tc:.1f}x | {td/tc:.1f}x "
          f"| {int(ma):,} | {share} | {int(mc):,} | {int(ra) + int(rd)} |")
ranged = sum(int(r[7]) + int(r[10]) for r in rows if r[1] == "2.0")
print()
print("v2: berth sent " + (f"{ranged} range requests (deltas)." if ranged else
      "no range requests: each host downloaded the whole v2 (no deltas in this build)."))
PY
  echo
  echo "Ansible: \`examples/fleet/site.yml\` (repository play on every host, then canary, 30%, the rest; forks = N; each host: berth.core.repo with update, the profile file templated, berth.core.apply with the service's restart and health check). berth per host: \`ip netns exec hK sh -c 'berth update && berth apply app.toml'\` for every host at once (\`xargs -P N\`; v1 on fresh roots, v2 on the roots holding v1): signature check, download into the cache, hashed durable store install, switch, restart, health check. curl | tar per host: \`curl -sf URL | tar -I zstd -x\` per host at once: no signature, no hash check, no fsync, nothing to roll back to. Bytes per host are nginx's \`\$body_bytes_sent\` summed per client address (medians over the hosts; for berth the index and its signature included; \"of v1's\": the v2 run's bytes per host over the v1 run's, target at most 5%). The v2 rows measure what the client does."
} >>"$RESULTS"
echo "appended to $RESULTS"
