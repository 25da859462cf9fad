#!/usr/bin/env bash
# Stop the servers `make test` started for itself (never one that was already running on the machine).
set -uo pipefail
if [[ -f .threshold/mosquitto/pid ]]; then
  pid=$(cat .threshold/mosquitto/pid)
  kill "$pid" 2>/dev/null && echo "stopped Mosquitto ($pid)" >&2
  rm -f .threshold/mosquitto/pid
fi
[[ -x scripts/ensure-homeassistant.sh ]] && scripts/ensure-homeassistant.sh --stop
exit 0
