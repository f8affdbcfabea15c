#!/usr/bin/env bash
# Mosquitto peers for the MQTT interop tests, on loopback only:
#   anonymous  127.0.0.1:${HEATKPI_MQTT_PORT:-1883}, persistence on (sessions survive restarts)
#   auth       127.0.0.1:${HEATKPI_MQTT_AUTH_PORT:-1884}, user heatkpi-test, random password
#   tls        localhost:${HEATKPI_MQTT_TLS_PORT:-8883}, leaf certificate (SAN localhost, 127.0.0.1)
#              signed by a self-signed test CA; a second, unrelated CA for the wrong-CA test
#
# usage: tests/peers/mosquitto.sh start|stop
#
# Pid files are $run/mosquitto*.pid (so tests/peers/stop.sh stops them too); configs, certs and
# the persistence file live in $run/mqtt. `start` writes the tests' environment to $run/mqtt.env
# and appends it to $run/env when that file exists (tests/peers/start.sh writes it).
set -euo pipefail
run="${HEATKPI_PEERS_DIR:-/tmp/heatkpi-peers}"
dir="$run/mqtt"
port="${HEATKPI_MQTT_PORT:-1883}"
auth_port="${HEATKPI_MQTT_AUTH_PORT:-1884}"
tls_port="${HEATKPI_MQTT_TLS_PORT:-8883}"

wait_until() {  # wait_until SECONDS cmd... : retry cmd every 0.2 s until it succeeds
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}

stop_pidfile() {  # TERM, wait until gone (a zombie counts as gone), KILL if it lingers
  local f=$1 p st; [ -s "$f" ] || return 0; p=$(cat "$f")
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 100); do
    st=$(ps -o stat= -p "$p" 2>/dev/null || true); case "$st" in ""|Z*) break;; esac; sleep 0.1
  done
  st=$(ps -o stat= -p "$p" 2>/dev/null || true); case "$st" in ""|Z*) ;; *) kill -KILL "$p" 2>/dev/null || true;; esac
  rm -f "$f"
}

stop() {
  for f in "$run"/mosquitto.pid "$run"/mosquitto-auth.pid "$run"/mosquitto-tls.pid; do stop_pidfile "$f"; done
}

install() {
  local missing=()
  for p in mosquitto mosquitto-clients openssl; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "mosquitto peer: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # apt on a systemd host starts a system-wide broker on 1883; the container's policy-rc.d
  # stops that here. Refuse to start on a port someone else holds.
  for p in "$port" "$auth_port" "$tls_port"; do
    if ss -ltn 2>/dev/null | grep -q "127.0.0.1:$p \|0.0.0.0:$p \|\*:$p "; then
      echo "mosquitto peer: port $p is in use (systemctl disable --now mosquitto?)" >&2; exit 1
    fi
  done
}

make_certs() {
  local c="$dir/certs"
  [ -s "$c/server.crt" ] && [ -s "$c/other-ca.crt" ] && return 0
  mkdir -p "$c"
  (
    cd "$c"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=heatkpi test CA" \
      -keyout ca.key -out ca.crt \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n" > server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -out server.crt -extfile server.ext 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=some other CA" \
      -keyout other-ca.key -out other-ca.crt \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl verify -CAfile ca.crt server.crt >/dev/null
  )
}

common() {  # common NAME : lines every config shares
  cat <<EOF
# run as root: otherwise mosquitto drops to user "mosquitto" before writing the pid file
user root
pid_file $run/$1.pid
log_dest file $dir/$1.log
log_type error
log_type warning
log_type notice
log_type information
# default 1000: beyond it the broker silently drops QoS 1 messages for a slow subscriber
max_queued_messages 1000000
EOF
}

start() {
  stop
  install
  mkdir -p "$dir/data"
  make_certs
  local pw
  pw="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  rm -f "$dir/passwd"
  mosquitto_passwd -c -b "$dir/passwd" heatkpi-test "$pw"

  { common mosquitto; cat <<EOF
allow_anonymous true
listener $port 127.0.0.1
persistence true
persistence_location $dir/data/
EOF
  } >"$dir/mosquitto.conf"
  { common mosquitto-auth; cat <<EOF
allow_anonymous false
password_file $dir/passwd
listener $auth_port 127.0.0.1
persistence false
EOF
  } >"$dir/mosquitto-auth.conf"
  { common mosquitto-tls; cat <<EOF
allow_anonymous true
listener $tls_port 127.0.0.1
cafile $dir/certs/ca.crt
certfile $dir/certs/server.crt
keyfile $dir/certs/server.key
persistence false
EOF
  } >"$dir/mosquitto-tls.conf"

  for n in mosquitto mosquitto-auth mosquitto-tls; do
    mosquitto -c "$dir/$n.conf" -d 2>/dev/null
  done
  wait_until 10 mosquitto_sub -h 127.0.0.1 -p "$port" -t '$SYS/broker/version' -C 1 -W 1 \
    || { echo "mosquitto peer: anonymous broker did not start"; cat "$dir/mosquitto.log"; exit 1; }
  wait_until 10 mosquitto_sub -h 127.0.0.1 -p "$auth_port" -u heatkpi-test -P "$pw" -t '$SYS/broker/version' -C 1 -W 1 \
    || { echo "mosquitto peer: auth broker did not start"; cat "$dir/mosquitto-auth.log"; exit 1; }
  wait_until 10 mosquitto_sub -h localhost -p "$tls_port" --cafile "$dir/certs/ca.crt" -t '$SYS/broker/version' -C 1 -W 1 \
    || { echo "mosquitto peer: TLS broker did not start"; cat "$dir/mosquitto-tls.log"; exit 1; }

  cat >"$run/mqtt.env" <<EOF
export HEATKPI_PEER_MQTT=127.0.0.1:$port
export HEATKPI_PEER_MQTT_AUTH=127.0.0.1:$auth_port
export HEATKPI_PEER_MQTT_USER=heatkpi-test
export HEATKPI_PEER_MQTT_PASSWORD=$pw
export HEATKPI_PEER_MQTT_TLS=localhost:$tls_port
export HEATKPI_PEER_MQTT_CA=$dir/certs/ca.crt
export HEATKPI_PEER_MQTT_WRONG_CA=$dir/certs/other-ca.crt
export HEATKPI_PEER_MOSQUITTO=$(command -v mosquitto)
EOF
  if [ -f "$run/env" ]; then
    grep -v '^export HEATKPI_PEER_M\(QTT\|OSQUITTO\)' "$run/env" >"$run/env.tmp" || true
    cat "$run/mqtt.env" >>"$run/env.tmp"
    mv "$run/env.tmp" "$run/env"
  fi
  echo "mosquitto peer: 127.0.0.1:$port (anonymous, persistent), 127.0.0.1:$auth_port (auth), localhost:$tls_port (TLS) -> $run/mqtt.env"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
