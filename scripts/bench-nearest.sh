#!/usr/bin/env bash
# Nearest-office through REST on the embedded shape, measured with wrk.
# Usage: scripts/bench-nearest.sh [duration]   (needs wrk: apt-get install wrk)
# The per-address rate limit is raised (not switched off) so that its cost
# is measured while wrk, from one address, is not refused.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20s}
cargo build --release -q -p plaza-cli
bin=target/release/plaza
dir=$(mktemp -d)
$bin --data-dir "$dir" offices generate --count 3000 | $bin --data-dir "$dir" offices import - >/dev/null
PLAZA_HTTP_RATE_LIMIT_PER_IP=1000000 PLAZA_LOG_LEVEL=warn $bin --data-dir "$dir" serve --http 127.0.0.1:18080 --grpc 127.0.0.1:15051 >/dev/null &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
until curl -sf http://127.0.0.1:18080/healthz >/dev/null; do sleep 0.05; done
# Steady state: wait until the import's events (3,000 OfficeChanged and 3,000
# audit records) have gone through, which the signed audit head shows.
until curl -s http://127.0.0.1:18080/v1/audit/tree-head | grep -q '"tree_size":3000'; do sleep 0.05; done
echo "== one point (answers cached)"
wrk -t2 -c16 -d"$duration" --latency 'http://127.0.0.1:18080/v1/offices/nearest?lat=40.27&lon=-76.88&limit=5'
echo "== random points (answers computed)"
wrk -t2 -c16 -d"$duration" --latency -s scripts/nearest-random.lua http://127.0.0.1:18080
