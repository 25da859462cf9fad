#!/usr/bin/env bash
# Stop the servers `make test` started for itself (never one that was already running on the machine).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
DIR="${PWD}/.threshold/mosquitto"
if pid=$(our_pid "$DIR/pid" "$DIR/mosquitto.conf"); then
  kill "$pid" && echo "stopped Mosquitto ($pid)" >&2
fi
rm -f "$DIR/pid"
scripts/ensure-homeassistant.sh --stop
# The PostgreSQL of scripts/ensure-postgres.sh is kept between runs (it takes seconds to start); `make clean`
# stops it before removing its data directory.
if [[ "${1:-}" == "--postgres" && -f .threshold/pg/postmaster.pid ]]; then
  BIN=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1)")
  RUNAS=(); [[ $(id -u) -eq 0 ]] && RUNAS=(runuser -u postgres --)
  "${RUNAS[@]}" "$BIN/pg_ctl" -D .threshold/pg stop -m fast >&2 || true
fi
exit 0
