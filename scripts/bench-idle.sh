#!/usr/bin/env bash
# `plaza serve` idle: time from exec to a ready HTTP API, and resident memory.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p plaza-cli
bin=target/release/plaza
dir=$(mktemp -d)
$bin --data-dir "$dir" offices generate --count 3000 | $bin --data-dir "$dir" offices import - >/dev/null
for run in 1 2 3 4 5; do
  start=$(date +%s%N)
  PLAZA_LOG_LEVEL=warn $bin --data-dir "$dir" serve --http 127.0.0.1:18081 --grpc 127.0.0.1:15052 >/dev/null &
  pid=$!
  until curl -sf http://127.0.0.1:18081/readyz >/dev/null; do sleep 0.005; done
  ready=$(( ($(date +%s%N) - start) / 1000000 ))
  curl -sf 'http://127.0.0.1:18081/v1/offices/nearest?lat=40.27&lon=-76.88' >/dev/null
  sleep 2
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  echo "run $run: ready (readyz 200) in ${ready} ms; idle RSS ${rss} kB"
  kill -INT $pid; wait $pid || true
done
rm -rf "$dir"
