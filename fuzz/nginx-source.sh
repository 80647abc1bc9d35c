#!/usr/bin/env bash
# Unpacks the C sources of Debian's nginx 1.22.1 into $1 (nginx-dev ships
# only headers).  apt-get source, with a sources list of its own in
# $2 (deb-src lines made from the system's deb lines), so the system's
# apt configuration is left as it is.
set -euo pipefail

dest=$1
work=$2

mkdir -p "$work/parts" "$work/lists/partial" "$work/cache/archives/partial" \
         "$work/src"

for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed 's/^Types: deb$/Types: deb-src/' "$f" > "$work/parts/$(basename "$f")"
done

if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > "$work/parts/main.list"
fi

opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/parts"
      -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")

apt-get "${opts[@]}" -qq update
(cd "$work/src" && apt-get "${opts[@]}" -qq source --download-only \
    nginx/bookworm 2>&1 | grep -v '^W: Download is performed unsandboxed' \
    || true)

orig=$(ls "$work"/src/nginx_1.22.1.orig.tar.gz)
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
tar -xzf "$orig" -C "$dest.tmp" --strip-components=1
rm -rf "$dest"
mv "$dest.tmp" "$dest"
