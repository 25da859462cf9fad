#!/usr/bin/env bash
# Stop the servers `make test` started for itself (never one that was already running on the machine).
set -uo pipefail
for pidfile in .threshold/mosquitto/pid .threshold/ha/hass.pid; do
  if [[ -f "$pidfile" ]]; then
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null && echo "stopped $(dirname "$pidfile" | xargs basename) ($pid)" >&2
    rm -f "$pidfile"
  fi
done
exit 0
