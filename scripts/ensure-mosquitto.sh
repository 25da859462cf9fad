#!/usr/bin/env bash
# Start a Mosquitto of the test run's own on a free loopback port and print its URL (mqtt://127.0.0.1:PORT).
# Installs Mosquitto from Debian's packages when it is absent. Never binds beyond 127.0.0.1.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
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
# A broker of an earlier run is stopped: each run starts clean, with nothing retained.
if pid=$(our_pid "$DIR/pid" "$DIR/mosquitto.conf"); then kill "$pid" || true; sleep 0.2; fi
rm -f "$DIR/pid"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$DIR/mosquitto.conf" <<CONF
listener ${PORT} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
pid_file ${DIR}/pid
log_dest file ${DIR}/mosquitto.log
CONF
# Mosquitto drops root for its own user, which must be able to write its pid and log here.
if [[ $(id -u) -eq 0 ]] && id mosquitto >/dev/null 2>&1; then chown mosquitto "$DIR"; fi
"$BIN" -c "$DIR/mosquitto.conf" -d
for _ in $(seq 1 100); do
  # Ours, and listening: a listener on the port that is not ours must not be taken for it.
  if our_pid "$DIR/pid" "$DIR/mosquitto.conf" >/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null; then
    echo "mqtt://127.0.0.1:${PORT}"; exit 0
  fi
  sleep 0.05
done
echo "mosquitto did not start; see $DIR/mosquitto.log" >&2
exit 1
