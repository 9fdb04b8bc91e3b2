# Shared by bench/*.sh: paths, the machine line, and appending hyperfine medians to RESULTS.md.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
RESULTS="$BENCH_DIR/RESULTS.md"
# Timed runs write to fresh paths: one new work directory per invocation.
WORK="$BENCH_DIR/work/$(basename "$0" .sh)-$(date -u +%Y%m%dT%H%M%S)-$$"
mkdir -p "$WORK"

build_berth() {
  (cd "$REPO" && cargo build --workspace --release -q)
  BERTH="$REPO/target/release/berth"
}

machine() {
  local cpu fs
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  fs=$(stat -f -c %T "$WORK")
  echo "$(uname -sr), $cpu, $(nproc) CPUs, $fs ($WORK)"
}

# results_section TITLE: starts a subsection under "## Shims and switches".
results_section() {
  if ! grep -q '^## Shims and switches' "$RESULTS" 2>/dev/null; then
    printf '\n## Shims and switches\n' >>"$RESULTS"
  fi
  {
    printf '\n### %s (%s)\n\n' "$1" "$(date -u +%Y-%m-%dT%H:%MZ)"
    printf 'Machine: %s\n\n' "$(machine)"
  } >>"$RESULTS"
}

# append_table JSON BASELINE_INDEX: one row per hyperfine command, ratio to the baseline.
append_table() {
  python3 - "$1" "$2" >>"$RESULTS" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
base = res[int(sys.argv[2])]["median"]
print("| command | median | mean ± σ | added to first | ratio to first |")
print("| --- | ---: | ---: | ---: | ---: |")
for r in res:
    m = r["median"]
    print(f"| {r['command']} | {m*1000:.2f} ms | {r['mean']*1000:.2f} ± {r['stddev']*1000:.2f} ms "
          f"| {(m-base)*1000:+.2f} ms | {m/base:.2f}x |")
PY
}
