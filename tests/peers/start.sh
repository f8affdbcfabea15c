#!/usr/bin/env bash
# Install and start the third-party peers used by the interop tests, on loopback.
# Each peer is started only if its package can be installed; tests that need a peer that is
# not running are skipped unless HEATKPI_REQUIRE_PEERS=1 (then they fail).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
run="${HEATKPI_PEERS_DIR:-/tmp/heatkpi-peers}"
mkdir -p "$run"

need=()
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "peers: not root, cannot install ${need[*]}" >&2
  fi
fi
echo "peers: ready in $run"
