#!/usr/bin/env bash
# Stop every peer started by start.sh (pid files in the run directory).
run="${HEATKPI_PEERS_DIR:-/tmp/heatkpi-peers}"
for f in "$run"/*.pid; do
  [ -e "$f" ] || continue
  p=$(cat "$f"); kill -TERM "$p" 2>/dev/null || true
  rm -f "$f"
done
