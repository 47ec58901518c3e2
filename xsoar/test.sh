#!/usr/bin/env bash
# The XSOAR pack's checks:
#   1. xsoar/build.sh: demisto-sdk validate (offline), unify, zip-packs;
#   2. pytest: the integration's unit tests, and the live test that starts
#      target/debug/certsentry on the demo stream and drives the integration.
# The Python tools live in a venv ($XSOAR_VENV, default target/xsoar-venv),
# made from xsoar/requirements.txt when missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="${XSOAR_VENV:-$root/target/xsoar-venv}"
if ! "$venv/bin/python" -c "import demisto_sdk, pytest, requests, websockets" >/dev/null 2>&1; then
  echo "== venv $venv (xsoar/requirements.txt)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -r xsoar/requirements.txt
fi
echo "== certsentry binary"
cargo build --locked --quiet
echo "== xsoar/build.sh"
DEMISTO_SDK="$venv/bin/demisto-sdk" xsoar/build.sh
echo "== pytest xsoar"
CERTSENTRY_BIN="$root/target/debug/certsentry" "$venv/bin/python" -m pytest -q -p no:cacheprovider xsoar
