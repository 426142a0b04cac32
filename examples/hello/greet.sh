#!/usr/bin/env bash
# greet.sh NAME OUTDIR
#
# Builds the "hello" site: writes OUTDIR/greeting.txt ("Hello, NAME!"),
# OUTDIR/index.html and OUTDIR/VERSION (copied from the VERSION file next to
# this script). Needs only bash and coreutils, no network.
set -euo pipefail

usage="usage: greet.sh NAME OUTDIR"
name=${1:?$usage}
outdir=${2:?$usage}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(tr -d '[:space:]' < "$here/VERSION")

if [ -z "$version" ]; then
  echo "greet.sh: $here/VERSION is empty" >&2
  exit 1
fi

mkdir -p "$outdir"
printf 'Hello, %s!\n' "$name" > "$outdir/greeting.txt"
printf '%s\n' "$version" > "$outdir/VERSION"
cat > "$outdir/index.html" <<HTML
<!doctype html>
<title>hello $version</title>
<h1>$(cat "$outdir/greeting.txt")</h1>
<p>Built by pipec, version $version.</p>
HTML

echo "greet.sh: wrote $(ls "$outdir" | tr '\n' ' ')to $outdir"
