#!/usr/bin/env bash
# Cost of isolation: `berth run --isolate P -- /bin/true` beside a plain `/bin/true` and a
# plain `berth run P -- /bin/true`, alternated in one run (target: under 10 ms added by
# --isolate). Needs python3 and root (or unprivileged user namespaces).
source "$(dirname "$0")/common.sh"
build_berth

# A package shaped like a real service: usr/bin, usr/share, a config file and a data dir,
# so the run mounts overlays on /usr, /etc and /var and binds both.
export BERTH_ROOT="$WORK/berth-root"
P="$WORK/pkg"
mkdir -p "$P/usr/bin" "$P/usr/share/svc" "$P/etc/svc" "$P/var/lib/svc"
printf '#!/bin/sh\necho svc\n' >"$P/usr/bin/svc"
chmod 755 "$P/usr/bin/svc"
echo 1.0 >"$P/usr/share/svc/VERSION"
echo 'port = 8080' >"$P/etc/svc/svc.conf"
printf '[package]\nname = "svc"\nversion = "1.0"\n[exports]\nbin = ["usr/bin"]\n[[config]]\npath = "etc/svc/svc.conf"\n[[writable]]\npath = "var/lib/svc"\n' >"$P/berth.toml"
"$BERTH" -q pack "$P" -o "$WORK"
"$BERTH" -q install "$WORK/svc-1.0.berth"
"$BERTH" -q use bench svc

# Each command must really work before it is timed.
[ "$("$BERTH" run --isolate bench -- cat /usr/share/svc/VERSION)" = 1.0 ]
"$BERTH" run bench -- /bin/true

# Alternated: each round runs every command once, in turn, so that load changes on this
# shared machine hit all of them alike. Output in hyperfine's JSON shape for append_table.
python3 - "$WORK/isolate.json" "$BERTH" <<'PY'
import json, os, statistics, subprocess, sys, time
out, berth = sys.argv[1], sys.argv[2]
cmds = [
    ("/bin/true", ["/bin/true"]),
    ("berth run P -- /bin/true", [berth, "run", "bench", "--", "/bin/true"]),
    ("berth run --isolate P -- /bin/true", [berth, "run", "--isolate", "bench", "--", "/bin/true"]),
]
times = {name: [] for name, _ in cmds}
for rnd in range(20 + 400):
    for name, argv in cmds:
        t = time.perf_counter()
        subprocess.run(argv, check=True)
        if rnd >= 20:  # warmup rounds
            times[name].append(time.perf_counter() - t)
res = [{"command": n, "median": statistics.median(v), "mean": statistics.mean(v),
        "stddev": statistics.stdev(v)} for n, v in times.items()]
json.dump({"results": res}, open(out, "w"))
for r in res:
    print(f"{r['command']:40} median {r['median']*1000:.2f} ms")
PY

# CPU time (less sensitive to a loaded machine than wall time): perf stat task-clock.
cpu_ms() { perf stat -r 100 -x, -e task-clock "$@" 2>&1 >/dev/null | awk -F, '/task-clock/ {printf "%.2f", $1}'; }
cpu=""
if command -v perf >/dev/null; then
  cpu="CPU time per run (perf stat task-clock, 100 runs): /bin/true $(cpu_ms /bin/true) ms, berth run $(cpu_ms "$BERTH" run bench -- /bin/true) ms, berth run --isolate $(cpu_ms "$BERTH" run --isolate bench -- /bin/true) ms."
fi

# Stale hold files of the timed runs are removed by the next mutation.
"$BERTH" -q gc --dry-run >/dev/null

results_section "Isolation overhead: bench/isolate.sh"
append_table "$WORK/isolate.json" 0
{
  printf '\nFirst row: /bin/true run directly. `berth run --isolate` (%s) makes user, mount, PID and IPC\n' \
    "$([ "$(id -u)" = 0 ] && echo "as root: the profile's id range, idmapped layers" || echo 'unprivileged user namespace')"
  printf 'namespaces, three read-only overlays (/usr with the package; /etc and /var with mount points only), the read-only store bind,\n'
  printf 'everything read-only, a fresh /proc, a private /dev, /tmp and /run, the root hidden, one config and one writable bind;\n'
  printf "writes its hold file under the root's lock, drops privileges and runs /bin/true under its PID 1, waiting for it.\n"
  printf '400 rounds after 20 warmup rounds, the three commands\n'
  printf 'alternated in each round (python3 subprocess, wall time including process start).\n'
  printf 'Load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  python3 - "$WORK/isolate.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
added = (r["berth run --isolate P -- /bin/true"] - r["/bin/true"]) * 1000
print(f"\nAdded by --isolate (median): {added:.2f} ms (target: under 10 ms).")
PY
  [ -n "$cpu" ] && printf '%s\n' "$cpu"
} >>"$RESULTS"
echo "appended to $RESULTS"
