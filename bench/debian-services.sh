#!/usr/bin/env bash
# Real Debian services (issue 22): `berth install` of the nginx pair (nginx + nginx-common)
# and of the php set (php-common, php8.2-common, php8.2-cli) into a fresh root, and into an
# existing root that holds the other version (the upgrade case), beside two references:
#  - `dpkg --root=DIR --unpack` into a scratch root with a minimal admin dir: dpkg fsyncs
#    every file before its rename, so it is the durable reference. `--unpack` (with
#    `--force-depends --force-not-root --no-triggers`) keeps it to unpack + fsync: no
#    postinst, no triggers. dpkg still runs each new package's `preinst install` chrooted
#    into DIR, so DIR gets /bin/sh and rm with their libraries (copied before the timing,
#    in --prepare; nginx-common's preinst only runs `rm -f`, php8.2-common's does nothing on
#    a fresh install). Never --force-script-chrootless: the scripts would run on this host.
#  - `dpkg-deb -x` of each file into a fresh directory, then `sync -f` (same durability).
# dpkg runs into a fresh scratch root only (an upgrade in the scratch root would run the old
# version's prerm/postrm, which need a real system). Every timed run writes a brand-new
# path; rounds alternate the order of the commands; nothing is deleted while the benchmark
# runs (see the ext4 note in bench/deb.sh and RESULTS.md); medians and ratios go to
# bench/RESULTS.md. Needs root (dpkg chroots into the scratch root for preinst).
#
# usage: bench/debian-services.sh [ROUNDS] [RUNS_PER_ROUND]      (defaults 4 and 3)
#        DEBS=/dir/with/the/.debs bench/debian-services.sh      (else apt-get download)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
rounds=${1:-4}
runs=${2:-3}
W=${BENCH_WORK:-$here/work}/debian-services
B=$repo/target/release/berth
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)"; exit 1; }
command -v dpkg >/dev/null || { echo "needs dpkg"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root: dpkg --root chroots into the scratch root for preinst"; exit 1; }
(cd "$repo" && cargo build --release -q)
mkdir -p "$W/runs" "$W/json" "$W/debs"

NGINX_A=1.22.1-9+deb12u9 NGINX_B=1.22.1-9+deb12u12
PHP_A=8.2.32-1~deb12u1 PHP_B=8.2.36-1~deb12u1 PHP_COMMON=2:93
# deb NAME VERSION: the path of that .deb, from $DEBS or fetched once into $W/debs.
deb() {
  local file
  file="$1_$(echo "$2" | sed 's/:/%3a/')_"
  for d in ${DEBS:-} "$W/debs"; do
    ls "$d/$file"*.deb 2>/dev/null | head -1 && return 0
  done
  (cd "$W/debs" && apt-get download -q "$1=$2" >/dev/null 2>&1)
  ls "$W/debs/$file"*.deb | head -1
}
nginx_a="$(deb nginx $NGINX_A) $(deb nginx-common $NGINX_A)"
nginx_b="$(deb nginx $NGINX_B) $(deb nginx-common $NGINX_B)"
php_a="$(deb php-common $PHP_COMMON) $(deb php8.2-common $PHP_A) $(deb php8.2-cli $PHP_A)"
php_b="$(deb php-common $PHP_COMMON) $(deb php8.2-common $PHP_B) $(deb php8.2-cli $PHP_B)"

# The scratch root dpkg unpacks into: an admin dir, and /bin/sh + rm for preinst.
cat >"$W/mkscratch.sh" <<'SH'
#!/bin/sh
set -e
d=$1
mkdir -p "$d/var/lib/dpkg/info" "$d/var/lib/dpkg/updates" "$d/var/lib/dpkg/triggers" "$d/tmp"
: >"$d/var/lib/dpkg/status"
: >"$d/var/lib/dpkg/available"
for b in /bin/sh /bin/dash /bin/rm; do
  cp --parents -L "$b" "$d"
  for l in $(ldd "$b" | grep -o '/[^ ]*'); do cp --parents -L "$l" "$d"; done
done
SH
chmod +x "$W/mkscratch.sh"

# Each command must work before it is timed.
for set in nginx php; do
  eval "a=\$${set}_a b=\$${set}_b"
  "$B" -q --root "$W/runs/check-$set" install $a 2>/dev/null
  "$B" -q --root "$W/runs/check-$set" install $b 2>/dev/null
  "$W/mkscratch.sh" "$W/runs/check-dpkg-$set"
  dpkg --root="$W/runs/check-dpkg-$set" --force-depends --force-not-root --no-triggers --unpack $b >/dev/null
done
clean="find $W/runs -mindepth 1 -maxdepth 1 -exec rm -rf {} +"
eval "$clean"; sync; sleep 65
rm -f "$W"/json/svc-*.json
for set in nginx php; do
  eval "a=\$${set}_a b=\$${set}_b"
  cur=$W/cur-$set
  c_fresh="$B -q --root $W/runs/f\$(date +%s%N) install $b 2>/dev/null"
  p_fresh="sync"
  c_exist="$B -q --root \$(cat $cur.e) install $b 2>/dev/null"
  p_exist="d=$W/runs/e\$(date +%s%N); $B -q --root \$d install $a 2>/dev/null; echo \$d >$cur.e; sync"
  c_dpkg="dpkg --root=\$(cat $cur.p) --force-depends --force-not-root --no-triggers --unpack $b >/dev/null"
  p_dpkg="d=$W/runs/p\$(date +%s%N); $W/mkscratch.sh \$d; echo \$d >$cur.p; sync"
  c_x="d=$W/runs/x\$(date +%s%N); for f in $b; do dpkg-deb -x \$f \$d; done && sync -f \$d"
  p_x="sync"
  # Kept per set for the summary below.
  printf -v "lines_$set" '`%s`; `%s`; `%s`; `%s`' "$c_fresh" "$c_exist" "$c_dpkg" "$c_x"
  for r in $(seq "$rounds"); do
    sync; sleep 3
    args=(--runs "$runs" --export-json "$W/json/svc-$set-$r.json" --style basic)
    one=(--prepare "$p_fresh" --command-name "$set: berth install (fresh root)" "$c_fresh")
    two=(--prepare "$p_exist" --command-name "$set: berth install (root holding the other version)" "$c_exist")
    three=(--prepare "$p_dpkg" --command-name "$set: dpkg --unpack (scratch root)" "$c_dpkg")
    four=(--prepare "$p_x" --command-name "$set: dpkg-deb -x && sync -f" "$c_x")
    # hyperfine pairs the nth --prepare with the nth command: keep each with its command.
    if [ $((r % 2)) = 1 ]; then order=(one two three four); else order=(four three two one); fi
    prep=() cmds=()
    for o in "${order[@]}"; do
      eval "x=(\"\${$o[@]}\")"
      prep+=("${x[0]}" "${x[1]}"); cmds+=("${x[2]}" "${x[3]}" "${x[4]}")
    done
    hyperfine "${args[@]}" "${prep[@]}" "${cmds[@]}"
  done
done
for set in nginx php; do
  eval "b=\$${set}_b lines=\$lines_$set"
  files=0; bytes=0
  for f in $b; do
    files=$((files + $(dpkg-deb -c "$f" | wc -l))); bytes=$((bytes + $(stat -c %s "$f")))
  done
  python3 "$here/summarize.py" "$here/RESULTS.md" "Real Debian services, $set: bench/debian-services.sh" \
    "$set: berth install (fresh root)=$set: dpkg --unpack (scratch root),$set: berth install (fresh root)=$set: dpkg-deb -x && sync -f,$set: berth install (root holding the other version)=$set: dpkg --unpack (scratch root),$set: berth install (root holding the other version)=$set: berth install (fresh root)" \
    "$W"/json/svc-$set-*.json \
    --note "Packages installed (the newer version): $(for f in $b; do basename "$f"; done | tr '\n' ' ')($files members, $bytes bytes); the existing root holds the older ones ($(for f in $(eval "echo \$${set}_a"); do basename "$f"; done | tr '\n' ' ')). Command: \`bench/debian-services.sh $rounds $runs\`." \
    --note "Command lines (each run writes to a new path; the existing root and dpkg's scratch root are made in hyperfine's --prepare, untimed): $lines. dpkg reference: \`--unpack\` (unpack + fsync; preinst install runs chrooted in the scratch root, postinst and triggers do not). Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other jobs shared the machine unless this is low)."
done
eval "$clean"
echo "appended to $here/RESULTS.md"
