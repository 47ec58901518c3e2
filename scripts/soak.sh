#!/usr/bin/env bash
# The soak (issue #20): certsentry serve at firehose rate for the given time
# (e.g. 1h, 90m, 300s), with list reloads, a flapping receiver and upstream
# drops; samples into target/soak/soak.csv, summary in target/soak/summary.json,
# plot in target/soak/soak.png.
#   scripts/soak.sh 1h [rate]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10m}"
rate="${2:-1000}"
case "$duration" in
  *h) seconds=$(( ${duration%h} * 3600 )) ;;
  *m) seconds=$(( ${duration%m} * 60 )) ;;
  *s) seconds=${duration%s} ;;
  *) seconds=$duration ;;
esac
out="${SOAK_OUT:-target/soak}"
mkdir -p "$out"
SOAK_SECONDS=$seconds SOAK_RATE=$rate SOAK_OUT="$out" \
  cargo test --release --locked --test api soak::soak -- --ignored --nocapture --exact
if [ ! -x target/soak-venv/bin/python ]; then
  python3 -m venv target/soak-venv
  target/soak-venv/bin/pip install --quiet 'matplotlib==3.9.2'
fi
target/soak-venv/bin/python scripts/soak_plot.py "$out/soak.csv" "$out/soak.png"
echo "plot: $out/soak.png; summary: $out/summary.json"
