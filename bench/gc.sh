#!/usr/bin/env bash
# Garbage-collection benchmark (issue 4).
#  1. `berth gc` deleting RELEASES releases of the FILES-file tree (bench/gen-tree.py), each
#     release 1% different from the one before (so they share most pool objects), beside
#     `rm -rf` of RELEASES hard-linked copies of the same trees (each `cp -al` of the one before,
#     changed files written anew: the fair floor, issue 12).
#  2. `berth gc --dry-run` on a root with ENTRIES entries and PROFILES profiles of GENS
#     generations each (hyperfine). Entries are real installs of small tarballs; the
#     generations are written directly in the documented on-disk format (generation.toml,
#     pkgs/ links, profile link), since making 5,000 of them through `berth use` only
#     measures `use`.
# Results go under "## Garbage collection" in bench/RESULTS.md (other sections untouched).
#
# usage: bench/gc.sh                      (full scale: 15000 files x 100 releases; 1000/100/50)
#        FILES=1500 RELEASES=20 bench/gc.sh   (smaller scale; recorded as such)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
W=${BENCH_WORK:-$here/work-gc}
B=$repo/target/release/berth
FILES=${FILES:-15000}
RELEASES=${RELEASES:-100}
ENTRIES=${ENTRIES:-1000}
PROFILES=${PROFILES:-100}
GENS=${GENS:-50}
RUNS=${RUNS:-10}
SKIP_RELEASES=${SKIP_RELEASES:-}
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)"; exit 1; }
(cd "$repo" && cargo build --release -q)
now() { date +%s.%N; }
ms() { python3 -c "print(round(($2 - $1) * 1000))"; }
notes=()

if [ -z "$SKIP_RELEASES" ]; then
  rm -rf "$W/rel"
  mkdir -p "$W/rel/copies"
  python3 "$here/gen-tree.py" "$W/rel/tree" --files "$FILES" --version 1
  for k in $(seq 1 "$RELEASES"); do
    if [ "$k" -gt 1 ]; then
      # Next release: 1% of the files get new content (new inodes), version k; their
      # paths go to changed.txt.
      python3 - "$W/rel/tree" "$k" >"$W/rel/changed.txt" <<'EOF'
import os, random, sys
root, k = sys.argv[1], int(sys.argv[2])
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f != "berth.toml")
rng = random.Random(k)
for p in rng.sample(files, max(1, len(files) // 100)):
    print(os.path.relpath(p, root))
    data = open(p, "rb").read()
    tmp = p + ".new"
    with open(tmp, "wb") as f:
        f.write(f"release {k}\n".encode() + data)
    os.chmod(tmp, os.stat(p).st_mode & 0o777)
    os.rename(tmp, p)
with open(os.path.join(root, "berth.toml"), "w") as f:
    f.write(f'[package]\nname = "bench"\nversion = "{k}"\n')
EOF
    fi
    "$B" -q pack "$W/rel/tree" -o "$W/rel/rel.berth" --level 1
    "$B" -q --root "$W/rel/root" install "$W/rel/rel.berth"
    # The fair floor (issue 12): the same releases as hard-linked copies, each `cp -al` of
    # the one before with its changed files written anew, so unchanged files share inodes
    # across releases as berth's entries share pool objects.
    if [ "$k" -eq 1 ]; then
      cp -a "$W/rel/tree" "$W/rel/copies/1"
    else
      cp -al "$W/rel/copies/$((k - 1))" "$W/rel/copies/$k"
      while IFS= read -r f; do
        rm -f "$W/rel/copies/$k/$f"
        cp -p "$W/rel/tree/$f" "$W/rel/copies/$k/$f"
      done <"$W/rel/changed.txt"
      cp -p "$W/rel/tree/berth.toml" "$W/rel/copies/$k/berth.toml.new"
      mv "$W/rel/copies/$k/berth.toml.new" "$W/rel/copies/$k/berth.toml"
    fi
  done
  rm -f "$W/rel/rel.berth"
  store_kib=$(du -sk "$W/rel/root/store" | cut -f1)
  copies_kib=$(du -sk "$W/rel/copies" | cut -f1)
  sync; sleep 3
  t0=$(now); "$B" --root "$W/rel/root" --json gc --grace 0 > "$W/rel/gc.json"; t1=$(now)
  gc_ms=$(ms "$t0" "$t1")
  sync; sleep 3
  t0=$(now); rm -rf "$W/rel/copies"; t1=$(now)
  rm_ms=$(ms "$t0" "$t1")
  freed=$(python3 -c "import json;r=json.load(open('$W/rel/gc.json'));print(r['bytes'], len(r['entries']), r['objects'])")
  read -r freed_bytes freed_entries freed_objects <<<"$freed"
  notes+=("### gc of $RELEASES releases of a $FILES-file tree (each 1% different from the last)

One run each (both are destructive; the root is rebuilt by installing every release, which
takes minutes), after \`sync\` and a pause; the store and the copies held the same trees,
unchanged files shared between releases in both.

| command | wall time | disk before (du) |
| --- | --- | --- |
| \`berth gc --grace 0\` ($freed_entries entries, $freed_objects pool objects) | $gc_ms ms | $((store_kib / 1024)) MiB (store, objects shared) |
| \`rm -rf\` of $RELEASES hard-linked copies (\`cp -al\` chain) | $rm_ms ms | $((copies_kib / 1024)) MiB |

Ratio gc / rm -rf: $(python3 -c "print(f'{$gc_ms / $rm_ms:.2f}x')") (target at most 1.2x).

gc reported freeing $freed_bytes bytes ($((freed_bytes / 1048576)) MiB) of blocks. gc walks each
entry once to count what it releases (the same plan \`--dry-run\` prints), renames the entries
into store/.trash (one directory fsync), removes the trees on all cores, then the objects
whose last entry link went.")
  rm -rf "$W/rel"
fi

# Part 2: dry run on a big root.
R=$W/dry
rm -rf "$R"
mkdir -p "$R/tars"
python3 - "$R/tars" "$ENTRIES" <<'EOF'
import io, os, sys, tarfile
out, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with tarfile.open(os.path.join(out, f"pkg{i:04}-1.tar"), "w") as t:
        for j, (name, body) in enumerate([("share/pkg%04d/readme" % i, f"package {i}\n"),
                                          ("share/pkg%04d/common" % i, "shared by all\n"),
                                          ("share/pkg%04d/data" % i, f"{i}\n" * 200)]):
            data = body.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
EOF
ls "$R"/tars/*.tar | xargs -n 100 "$B" -q --root "$R/root" install
python3 - "$R/root" "$PROFILES" "$GENS" <<'EOF'
import os, sys, datetime
root, profiles, gens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
entries = sorted(e for e in os.listdir(os.path.join(root, "store")) if not e.startswith("."))
referenced = entries[: len(entries) * 4 // 5]  # the last fifth is unreferenced
start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
for p in range(profiles):
    name = f"p{p:03}"
    for n in range(1, gens + 1):
        d = os.path.join(root, "generations", name, str(n))
        os.makedirs(os.path.join(d, "pkgs"))
        pkgs = [referenced[(p * 7 + n * 3 + k * 11) % len(referenced)] for k in range(3)]
        pkgs = sorted(set(pkgs))
        created = (start + datetime.timedelta(hours=p * gens + n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open(os.path.join(d, "generation.toml"), "w") as f:
            f.write(f'number = {n}\ncreated = "{created}"\ncommand = "bench"\n')
            for e in pkgs:
                pname, ver, eid = e.rsplit("-", 2)
                f.write(f'\n[[packages]]\nname = "{pname}"\nversion = "{ver}"\nid = "{eid}"\n')
                os.symlink(f"../../../../store/{e}", os.path.join(d, "pkgs", pname))
    os.makedirs(os.path.join(root, "profiles"), exist_ok=True)
    os.symlink(f"../generations/{name}/{gens}", os.path.join(root, "profiles", name))
EOF
"$B" --root "$R/root" gc --dry-run --grace 0 | tail -1
"$B" --root "$R/root" gc --dry-run --grace 0 --keep 5 | tail -1
hyperfine --warmup 2 --runs "$RUNS" --style basic --export-json "$W/dry.json" \
  --command-name "gc --dry-run" "$B -q --root $R/root gc --dry-run --grace 0" \
  --command-name "gc --dry-run --keep 5" "$B -q --root $R/root gc --dry-run --grace 0 --keep 5"
dry=$(python3 -c "
import json, statistics
r = json.load(open('$W/dry.json'))['results']
for x in r:
    t = x['times']
    print('| \`berth %s\` | %d | %.1f ms | %.1f ms | %.1f ms |' % (x['command'], len(t), statistics.median(t)*1e3, min(t)*1e3, max(t)*1e3))
")
notes+=("### gc --dry-run on $ENTRIES entries, $PROFILES profiles x $GENS generations

Target: under 1 s. hyperfine, $RUNS runs after 2 warm-ups. A fifth of the entries is
unreferenced; \`--keep 5\` also plans pruning $((GENS - 5)) generations per profile.

| command | runs | median | min | max |
| --- | --- | --- | --- | --- |
$dry")
rm -rf "$R"

python3 - "$here/RESULTS.md" "${notes[@]}" <<'EOF'
import os, platform, subprocess, sys
path, parts = sys.argv[1], sys.argv[2:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
fs = subprocess.run(["df", "-T", os.path.dirname(path)], capture_output=True, text=True).stdout.splitlines()[-1].split()[1]
body = f"## Garbage collection\n\nMachine: {os.cpu_count()} cores, {cpu}, kernel {platform.release()}, filesystem {fs}. Script: bench/gc.sh.\n\n" + "\n\n".join(parts) + "\n"
text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
start = text.find("## Garbage collection")
if start >= 0:
    end = text.find("\n## ", start + 1)
    text = text[:start] + body + (text[end + 1:] if end >= 0 else "")
else:
    text = text.rstrip("\n") + "\n\n" + body
open(path, "w").write(text)
EOF
echo "results written to $here/RESULTS.md"
