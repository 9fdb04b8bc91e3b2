#!/usr/bin/env bash
# Writes the seed inputs of both fuzz targets (archives made by the real tools in every
# format berth reads, manifests and file lists) into fuzz/seeds/<target>/. The fuzzer grows
# fuzz/corpus/<target>/ from them; see fuzz/README.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
berth="${BERTH:-$here/../target/release/berth}"
out="$here/seeds"
rm -rf "$out"
mkdir -p "$out/archive" "$out/manifest"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# A small package tree: a script, a text file, an empty file, a symlink, a hard link.
mkdir -p pkg-1.0/bin pkg-1.0/share/doc
printf '#!/bin/sh\necho hi\n' > pkg-1.0/bin/hi && chmod 755 pkg-1.0/bin/hi
printf 'readme\n' > pkg-1.0/share/doc/README
: > pkg-1.0/share/empty
ln -s doc/README pkg-1.0/share/readme-link
ln pkg-1.0/share/doc/README pkg-1.0/share/doc/README.hard
t="tar --owner=0 --group=0 --mtime=@1 --sort=name"
$t -cf "$out/archive/ustar.tar" --format=ustar pkg-1.0
$t -cf "$out/archive/gnu.tar" --format=gnu pkg-1.0
$t -cf "$out/archive/pax.tar" --format=pax pkg-1.0
gzip -n -c "$out/archive/ustar.tar" > "$out/archive/ustar.tar.gz"
xz -c "$out/archive/ustar.tar" > "$out/archive/ustar.tar.xz"
zstd -q -c "$out/archive/ustar.tar" > "$out/archive/ustar.tar.zst"
bzip2 -c "$out/archive/ustar.tar" > "$out/archive/ustar.tar.bz2"
xz --format=lzma -c "$out/archive/ustar.tar" > "$out/archive/ustar.tar.lzma"
pzstd -q -c -p 2 < "$out/archive/pax.tar" > "$out/archive/pax.tar.pzstd"
# Multi-member gzip.
head -c 1024 "$out/archive/gnu.tar" | gzip -n -c > "$out/archive/multi.tar.gz"
tail -c +1025 "$out/archive/gnu.tar" | gzip -n -c >> "$out/archive/multi.tar.gz"
# Long names (GNU L records, PAX path records).
long=pkg-1.0/$(printf 'd%.0s' $(seq 1 60))/$(printf 'f%.0s' $(seq 1 60))
mkdir -p "$(dirname "$long")" && printf 'x\n' > "$long"
$t -cf "$out/archive/gnu-long.tar" --format=gnu pkg-1.0
$t -cf "$out/archive/pax-long.tar" --format=pax pkg-1.0
# A sparse file in PAX 1.0 (refused) and GNU (refused).
mkdir -p sparse && truncate -s 64K sparse/holey && printf 'end' >> sparse/holey
$t -cf "$out/archive/sparse-pax.tar" --sparse --format=pax --sparse-version=1.0 sparse
$t -cf "$out/archive/sparse-gnu.tar" --sparse --format=gnu sparse
# Empty archives.
$t -cf "$out/archive/empty.tar" -T /dev/null
# berth packages, as pack writes them.
if [ -x "$berth" ]; then
  for v in 1.4.2 1.5.0; do
    "$berth" pack "$here/../examples/myapp-$v" -o "$out/archive/myapp-$v.berth" >/dev/null
  done
  mkdir -p bp && cp -a pkg-1.0/. bp/ && rm -rf "bp/$(dirname "${long#pkg-1.0/}")"
  printf '[package]\nname = "bp"\nversion = "1"\n' > bp/berth.toml
  "$berth" pack bp -o "$out/archive/bp-1.berth" >/dev/null
  zstd -q -d -c "$out/archive/bp-1.berth" > "$out/archive/bp-1.berth.tar"
  tar -xOf "$out/archive/bp-1.berth.tar" .berth/files > "$out/manifest/files-bp"
  tar -xOf "$out/archive/bp-1.berth.tar" .berth/manifest.toml > "$out/manifest/manifest-bp.toml"
fi

# Manifests.
cp "$here/../examples/myapp-1.4.2/berth.toml" "$out/manifest/myapp-1.4.2.toml"
cp "$here/../examples/myapp-1.5.0/berth.toml" "$out/manifest/myapp-1.5.0.toml"
cat > "$out/manifest/full.toml" <<'EOF'
[package]
name = "myapp"
version = "1:1.5.0~rc1-2"
description = "Order service"

[exports]
bin = ["bin", "sbin"]

[[config]]
path = "etc/myapp.ini"

[[writable]]
path = "var/uploads"

[service]
exec = "bin/myapp serve --port 8080"
user = "myapp"
capabilities = ["NET_BIND_SERVICE"]

[origin]
Package = "myapp"
Depends = ["libc6 (>= 2.36)"]
Installed-Size = 1234
nested = { a = 1, b = [1.5, true, 1979-05-27T07:32:00Z] }
EOF
printf '[package]\nname = "a"\nversion = "1"\n' > "$out/manifest/minimal.toml"
printf '[package]\nname = "a"\nversion = "1"\nvesion = "2"\n' > "$out/manifest/unknown-key.toml"
printf '[package]\nname = "a"\nversion = "1"\n[exports]\nbin = ["/abs", "a/../b"]\n' > "$out/manifest/bad-export.toml"
printf '[package]\nname = "a"\nversion = "1"\n"k\\u001b[2J" = 1\n' > "$out/manifest/quoted-key.toml"
printf '[package]\nname = "A B"\nversion = "1 2"\n[[config]]\npath = "etc/x"\n[[writable]]\npath = "var/y"\n' > "$out/manifest/bad-names.toml"
printf 'd\t755\t0\t-\tbin\nf\t755\t3\t%s\tbin/x\nl\t777\t0\t-\tx\tbin/x\n' \
  "$(printf 'hi\n' | sha256sum | cut -d' ' -f1)" > "$out/manifest/files-small"
echo "seeds in $out: $(ls "$out/archive" | wc -l) archives, $(ls "$out/manifest" | wc -l) manifests"
