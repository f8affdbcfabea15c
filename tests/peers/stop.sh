#!/usr/bin/env bash
# Stop every peer started by start.sh (pid files in the run directory).
run="${HEATKPI_PEERS_DIR:-/tmp/heatkpi-peers}"
for f in "$run"/*.pid; do
  [ -e "$f" ] || continue
  p=$(cat "$f")
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 50); do
    st=$(ps -o stat= -p "$p" 2>/dev/null); case "$st" in ""|Z*) break;; esac; sleep 0.1
  done
  kill -KILL "$p" 2>/dev/null || true
  rm -f "$f"
done
rm -f "$run/env"
