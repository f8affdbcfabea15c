#!/usr/bin/env bash
# Install and start the third-party peers the interop tests talk to, on loopback:
#   - pymodbus Modbus TCP server on 127.0.0.1:${HEATKPI_MODBUS_PORT:-15020}
#   - pymodbus Modbus RTU server on a pseudo-terminal pair made by socat
#     (server on $run/ttyA, heatkpi opens $run/ttyB)
# Tests find them through the environment written to $run/env (sourced by .ci/run).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
run="${HEATKPI_PEERS_DIR:-/tmp/heatkpi-peers}"
mkdir -p "$run"

wait_until() {  # wait_until SECONDS cmd... : retry cmd every 0.2 s until it succeeds
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}

pkgs=(python3-pymodbus python3-serial python3-serial-asyncio socat mbpoll sqlite3 curl)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "peers: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bash "$here/stop.sh" || true

# Modbus TCP (pymodbus from Debian: its python is /usr/bin/python3, not a pyenv one)
port="${HEATKPI_MODBUS_PORT:-15020}"
nohup /usr/bin/python3 "$here/modbus_server.py" tcp "$port" "$run/modbus-tcp.pid" >"$run/modbus-tcp.log" 2>&1 &
wait_until 20 mbpoll -m tcp -p "$port" -a 1 -t 4 -r 1 -c 1 -1 -o 0.5 127.0.0.1 \
  || { echo "peers: pymodbus TCP did not start"; cat "$run/modbus-tcp.log"; exit 1; }
echo "peers: pymodbus TCP on 127.0.0.1:$port"

# Modbus RTU over a pseudo-terminal pair
nohup socat pty,raw,echo=0,link="$run/ttyA" pty,raw,echo=0,link="$run/ttyB" >"$run/socat.log" 2>&1 &
echo $! >"$run/socat.pid"
wait_until 10 test -e "$run/ttyB"
nohup /usr/bin/python3 "$here/modbus_server.py" rtu "$run/ttyA" "$run/modbus-rtu.pid" 19200 >"$run/modbus-rtu.log" 2>&1 &
wait_until 20 mbpoll -m rtu -b 19200 -P none -a 1 -t 4 -r 1 -c 1 -1 -o 0.5 "$run/ttyB" \
  || { echo "peers: pymodbus RTU did not start"; cat "$run/modbus-rtu.log"; exit 1; }
echo "peers: pymodbus RTU on $run/ttyB (19200 8N1)"

cat >"$run/env" <<ENV
export HEATKPI_PEER_MODBUS_TCP=127.0.0.1:$port
export HEATKPI_PEER_MODBUS_RTU=$run/ttyB
ENV
# Mosquitto: anonymous with persistence, login, TLS with a test CA (appends to $run/env)
bash "$here/mosquitto.sh" start
# InfluxDB 1.6.7 and VictoriaMetrics (appends to $run/env)
bash "$here/influx.sh" start
echo "peers: ready ($run/env)"
