#!/usr/bin/env bash
# InfluxDB 1.6.7 and VictoriaMetrics (Debian packages) for the InfluxDB backend's tests, on
# loopback only:
#   influxd          127.0.0.1:${HEATKPI_INFLUX_PORT:-8086} (HTTP), RPC on 127.0.0.1:${HEATKPI_INFLUX_RPC_PORT:-8088}
#   victoria-metrics 127.0.0.1:${HEATKPI_VM_PORT:-8428}
#
# usage: tests/peers/influx.sh start|stop|restart-influxd|stop-influxd|start-influxd
#
# Data and configuration live in $run/influx and $run/vm; pid files are $run/influxd.pid and
# $run/victoria-metrics.pid (so tests/peers/stop.sh stops them too). `start` writes the tests'
# environment to $run/influx.env and appends it to $run/env when that file exists
# (tests/peers/start.sh writes it). The outage test stops and starts influxd itself through
# `stop-influxd` / `start-influxd`, keeping the data directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
run="${HEATKPI_PEERS_DIR:-/tmp/heatkpi-peers}"
port="${HEATKPI_INFLUX_PORT:-8086}"
rpc_port="${HEATKPI_INFLUX_RPC_PORT:-8088}"
vm_port="${HEATKPI_VM_PORT:-8428}"

wait_until() {  # wait_until SECONDS cmd... : retry cmd every 0.2 s until it succeeds
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}

stop_pidfile() {  # TERM, wait until gone (a zombie counts as gone), KILL if it lingers
  local f=$1 p st; [ -s "$f" ] || return 0; p=$(cat "$f")
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 150); do
    st=$(ps -o stat= -p "$p" 2>/dev/null || true); case "$st" in ""|Z*) break;; esac; sleep 0.1
  done
  st=$(ps -o stat= -p "$p" 2>/dev/null || true); case "$st" in ""|Z*) ;; *) kill -KILL "$p" 2>/dev/null || true;; esac
  rm -f "$f"
}

port_busy() { ss -ltn 2>/dev/null | grep -qE "(127\.0\.0\.1|0\.0\.0\.0|\*|\[::\]):$1 "; }

install() {
  local missing=()
  for p in influxdb influxdb-client victoria-metrics curl; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "influx peers: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

start_influxd() {
  mkdir -p "$run/influx"
  if port_busy "$port"; then
    echo "influx peers: port $port is in use (systemctl disable --now influxdb?)" >&2; return 1
  fi
  cat >"$run/influx/influxdb.conf" <<CONF
reporting-enabled = false
bind-address = "127.0.0.1:$rpc_port"
[meta]
  dir = "$run/influx/meta"
[data]
  dir = "$run/influx/data"
  wal-dir = "$run/influx/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$port"
  auth-enabled = false
  log-enabled = false
  max-body-size = 25000000
[ifql]
  enabled = false
CONF
  nohup influxd run -config "$run/influx/influxdb.conf" -pidfile "$run/influxd.pid" \
    >>"$run/influx/influxd.log" 2>&1 &
  wait_until 60 curl -sf "http://127.0.0.1:$port/ping" \
    || { echo "influx peers: influxd did not start"; tail -20 "$run/influx/influxd.log"; return 1; }
}

stop_influxd() { stop_pidfile "$run/influxd.pid"; }

start_vm() {
  mkdir -p "$run/vm"
  if port_busy "$vm_port"; then
    echo "influx peers: port $vm_port is in use (systemctl disable --now victoria-metrics?)" >&2; return 1
  fi
  # -retentionPeriod: the default (1 month) would drop the tests' historic timestamps;
  # -search.latencyOffset=0s: otherwise the newest 30 s are hidden from queries.
  nohup victoria-metrics -httpListenAddr="127.0.0.1:$vm_port" -storageDataPath="$run/vm/data" \
    -retentionPeriod=100y -search.disableCache -search.latencyOffset=0s \
    >>"$run/vm/vm.log" 2>&1 &
  echo $! >"$run/victoria-metrics.pid"
  wait_until 60 curl -sf "http://127.0.0.1:$vm_port/health" \
    || { echo "influx peers: victoria-metrics did not start"; tail -20 "$run/vm/vm.log"; return 1; }
}

start() {
  install
  mkdir -p "$run"
  stop
  start_influxd
  start_vm
  cat >"$run/influx.env" <<ENV
export HEATKPI_PEER_INFLUXDB=http://127.0.0.1:$port
export HEATKPI_PEER_VICTORIA=http://127.0.0.1:$vm_port
export HEATKPI_PEER_INFLUX_SCRIPT=$here/influx.sh
ENV
  if [ -f "$run/env" ] && ! grep -q HEATKPI_PEER_INFLUXDB "$run/env"; then
    cat "$run/influx.env" >>"$run/env"
  fi
  echo "influx peers: influxd 127.0.0.1:$port, victoria-metrics 127.0.0.1:$vm_port ($run/influx.env)"
}

stop() {
  stop_pidfile "$run/victoria-metrics.pid"
  stop_influxd
  rm -f "$run/influx.env"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  stop-influxd) stop_influxd ;;
  start-influxd) start_influxd ;;
  *) echo "usage: $0 start|stop|stop-influxd|start-influxd" >&2; exit 2 ;;
esac
