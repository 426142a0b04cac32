#!/usr/bin/env bash
# tests.sh [BINARY]
#
# Runs wordcount's tests against BINARY (default: build/wordcount) and prints
# one line per case; exits 1 if any case failed. Needs bash and coreutils only,
# and writes no files.
set -euo pipefail

bin=${1:-build/wordcount}
self=${BASH_SOURCE[0]}     # a file to count, checked against coreutils' wc
if [ ! -x "$bin" ]; then
  echo "tests.sh: $bin is not an executable file (build it first)" >&2
  exit 1
fi
passed=0
failed=0

# t NAME STATUS EXPECTED INPUT [ARG...]
# Feeds INPUT (printf %b: \n and \t are expanded) to `wordcount ARG...` and
# expects exit status STATUS and EXPECTED as its output (stdout and stderr).
t() {
  local name=$1 want_status=$2 want=$3 input=$4 got status=0
  shift 4
  got=$(printf '%b' "$input" | "$bin" "$@" 2>&1) || status=$?
  if [ "$status" = "$want_status" ] && [ "$got" = "$want" ]; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    echo "  expected (exit $want_status):"; sed 's/^/    /' <<< "$want"
    echo "  got (exit $status):";           sed 's/^/    /' <<< "$got"
    failed=$((failed + 1))
  fi
}

t "empty input"         0 "0 0 0"   ""
t "one line"            0 "1 2 12"  "hello world\n"
t "blanks and tabs"     0 "3 3 12"  "  a\t b  \n\nc\n"
t "no final newline"    0 "0 2 7"   "one two"
t "multi-byte UTF-8"    0 "1 2 13"  "café crème\n"

expected="$(LC_ALL=C wc -l < "$self") $(LC_ALL=C wc -w < "$self") $(LC_ALL=C wc -c < "$self")"
t "a file, like wc"     0 "$expected $self" "" "$self"
t "two files"           0 "$expected $self"$'\n'"$expected $self" "" "$self" "$self"
t "missing file"        1 "wordcount: no-such-file: No such file or directory" "" no-such-file
t "--help"              0 "usage: wordcount [FILE...]"$'\n'"Print the lines, words and bytes of each FILE, or of standard input." ""  --help

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
