#!/usr/bin/env bash
# Start a Mosquitto of the test run's own on a free loopback port and print its URL (mqtt://127.0.0.1:PORT).
# Installs Mosquitto from Debian's packages when it is absent. Never binds beyond 127.0.0.1.
set -euo pipefail
if [[ -n "${THRESHOLD_TEST_MQTT_URL:-}" ]]; then echo "$THRESHOLD_TEST_MQTT_URL"; exit 0; fi
BIN=$(command -v mosquitto || true)
[[ -z "$BIN" && -x /usr/sbin/mosquitto ]] && BIN=/usr/sbin/mosquitto
if [[ -z "$BIN" ]]; then
  echo "installing mosquitto from Debian packages" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto) >&2
  BIN=/usr/sbin/mosquitto
fi
DIR="${PWD}/.threshold/mosquitto"
mkdir -p "$DIR"
# A stale broker of an earlier run is stopped: each run starts clean, with nothing retained.
if [[ -f "$DIR/pid" ]] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then kill "$(cat "$DIR/pid")" || true; sleep 0.2; fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$DIR/mosquitto.conf" <<CONF
listener ${PORT} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
log_dest file ${DIR}/mosquitto.log
CONF
chmod -R a+rwX "$DIR"
"$BIN" -c "$DIR/mosquitto.conf" -d
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null; then
    pgrep -n -f "$DIR/mosquitto.conf" > "$DIR/pid" || true
    echo "mqtt://127.0.0.1:${PORT}"; exit 0
  fi
  sleep 0.05
done
echo "mosquitto did not start; see $DIR/mosquitto.log" >&2
exit 1
