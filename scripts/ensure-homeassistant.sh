#!/usr/bin/env bash
# Print THRESHOLD_TEST_HA_URL and THRESHOLD_TEST_HA_TOKEN for a Home Assistant (the `demo:` integration) that the
# tests can use: the one a previous run started if it still answers with the stored token, or one started here.
# Home Assistant gets its own virtualenv (.tools/ha), installed from PyPI when absent; its config, log, pid and
# token live in .threshold/ha. It binds 127.0.0.1 only. Everything but the two lines goes to stderr.
# `scripts/ensure-homeassistant.sh --stop` stops the Home Assistant this script started.
set -euo pipefail
export UV_PYTHON_DOWNLOADS=never

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HA_VERSION=2024.3.3
VENV="$ROOT/.tools/ha"
DIR="$ROOT/.threshold/ha"
ENV_FILE="$DIR/threshold-test.env"
PID_FILE="$DIR/hass.pid"
PY="$VENV/bin/python"

say() { echo "ensure-homeassistant: $*" >&2; }

source "$ROOT/scripts/lib.sh"
# Our hass on our config dir, never some recycled pid.
our_hass() { our_pid "$PID_FILE" "-c $DIR "; }

stop_ours() {
  local pid
  if pid=$(our_hass); then
    say "stopping Home Assistant (pid $pid)"
    kill -CONT "$pid" 2>/dev/null || true  # a test may have left it frozen: TERM would wait for it to run
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
}

mkdir -p "$DIR"
# One run at a time (make and a test session may both ask); flock comes with util-linux.
if command -v flock >/dev/null; then exec 9>"$DIR/.lock"; flock 9; fi

if [[ "${1:-}" == "--stop" ]]; then stop_ours; exit 0; fi

# Exit 0 when URL answers the API with TOKEN (python3's stdlib: curl may be absent on a fresh machine).
token_works() {
  python3 - "$1" "$2" <<'PY'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/api/", headers={"Authorization": "Bearer " + sys.argv[2]})
try:
    with urllib.request.urlopen(req, timeout=3) as resp:
        sys.exit(0 if resp.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

emit() {
  umask 077  # the token is a credential for this Home Assistant
  printf 'THRESHOLD_TEST_HA_URL=%s\nTHRESHOLD_TEST_HA_TOKEN=%s\n' "$1" "$2" >"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
  cat "$ENV_FILE"
}

stored() { grep -m1 "^$1=" "$ENV_FILE" 2>/dev/null | cut -d= -f2-; }

# 1. A Home Assistant from an earlier run that still answers with the stored token is reused as it is.
if [[ -f "$ENV_FILE" ]] && token_works "$(stored THRESHOLD_TEST_HA_URL)" "$(stored THRESHOLD_TEST_HA_TOKEN)"; then
  say "reusing the running Home Assistant"
  cat "$ENV_FILE"
  exit 0
fi

# 2. Install Home Assistant and the requirements of the integrations it loads (it runs with --skip-pip, so
#    nothing is installed behind our back at start-up and a start never needs the network).
STAMP="$VENV/.threshold-installed"
if [[ "$(cat "$STAMP" 2>/dev/null)" != "$HA_VERSION" ]]; then
  say "installing Home Assistant $HA_VERSION into $VENV"
  started=$SECONDS
  UV=$(command -v uv 2>/dev/null || true)
  [[ -x "$ROOT/.tools/bin/uv" ]] && UV="$ROOT/.tools/bin/uv"
  rm -rf "$VENV"
  if [[ -n "$UV" ]]; then
    "$UV" venv -q --python "$(command -v python3)" "$VENV" >&2
    install() { "$UV" pip install -q --python "$PY" "$@" >&2; }
  else
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install -q --upgrade pip >&2
    install() { "$VENV/bin/pip" install -q "$@" >&2; }
  fi
  # Never committed by mistake, whichever tool made the venv.
  echo '*' >"$VENV/.gitignore"
  # Home Assistant 2024.3 serves HTTP only with josepy<2 (acme imports an API that josepy 2 removed).
  install "homeassistant==$HA_VERSION" "josepy<2"
  # The requirements of what this config loads: the default integrations, the demo and every platform it
  # sets up, and their dependencies. after_dependencies are loaded only when configured, so they are left
  # out, except recorder, which analytics imports.
  REQS_TEXT=$("$PY" - <<'PY'
import json, pathlib
import homeassistant.bootstrap as boot
import homeassistant.components as components
from homeassistant.components import demo
base = pathlib.Path(components.__file__).parent
todo = [*boot.DEFAULT_INTEGRATIONS, *boot.CORE_INTEGRATIONS, "demo", "http", "api", "websocket_api", "recorder",
        *map(str, demo.COMPONENTS_WITH_CONFIG_ENTRY_DEMO_PLATFORM), *map(str, demo.COMPONENTS_WITH_DEMO_PLATFORM)]
seen, reqs = set(), set()
while todo:
    domain = todo.pop()
    manifest = base / domain / "manifest.json"
    if domain in seen or not manifest.exists():
        continue
    seen.add(domain)
    data = json.loads(manifest.read_text())
    reqs.update(data.get("requirements", []))
    todo += data.get("dependencies", [])
print("\n".join(sorted(reqs)))
PY
)
  mapfile -t REQS <<<"$REQS_TEXT"
  CONSTRAINTS=$("$PY" -c 'import homeassistant, pathlib; print(pathlib.Path(homeassistant.__file__).parent / "package_constraints.txt")')
  install -c "$CONSTRAINTS" "homeassistant==$HA_VERSION" "josepy<2" "${REQS[@]}"
  echo "$HA_VERSION" >"$STAMP"
  say "installed in $((SECONDS - started)) s"
fi

# 3. Config: the demo integration, HTTP on a free loopback port, no default_config (no recorder, history,
#    discovery or cloud to start and wait for).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# SO_REUSEADDR as Home Assistant's server sets it: connections of a stopped run in TIME_WAIT keep no one out.
port_free() {
  python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' \
    "$1" 2>/dev/null
}
write_config() {
  cat >"$DIR/configuration.yaml" <<EOF
# Written by scripts/ensure-homeassistant.sh for threshold's tests. Loopback only.
homeassistant:
  name: threshold-test
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  currency: EUR
  country: NL
  time_zone: UTC
http:
  server_host: 127.0.0.1
  server_port: $1
logger:
  default: warning
demo:
EOF
}

PORT=$(sed -n 's/^  server_port: //p' "$DIR/configuration.yaml" 2>/dev/null || true)

# 4. Whatever runs from an earlier start did not accept the stored token: stop it. The stored token is worth
#    a start only when no Home Assistant was running to refuse it (after a reboot, or `--stop`).
if our_hass >/dev/null; then RAN=1; else RAN=0; fi
stop_ours
if [[ -z "$PORT" ]] || ! port_free "$PORT"; then PORT=$(free_port); fi
write_config "$PORT"
URL="http://127.0.0.1:$PORT"
OLD_TOKEN=$(stored THRESHOLD_TEST_HA_TOKEN || true)

start_hass() {
  say "starting Home Assistant on $URL (log: $DIR/home-assistant.log)"
  # setsid: it must outlive the shell (make, pytest) that ran this script; 9>&-: it must not hold our lock.
  setsid "$VENV/bin/hass" -c "$DIR" --skip-pip >>"$DIR/hass.out" 2>&1 </dev/null 9>&- &
  echo $! >"$PID_FILE"
}

# Wait until the HTTP API answers (401 without a token) and the process is still ours.
wait_http() {
  for _ in $(seq 1 600); do
    our_hass >/dev/null || { say "Home Assistant exited; see $DIR/hass.out and $DIR/home-assistant.log"; exit 1; }
    if python3 - "$URL" <<'PY'
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/api/", timeout=2)
except urllib.error.HTTPError as err:
    sys.exit(0 if err.code == 401 else 1)
except Exception:
    sys.exit(1)
sys.exit(1)
PY
    then return 0; fi
    sleep 0.2
  done
  say "Home Assistant did not answer on $URL within 120 s"; exit 1
}

started=$SECONDS
TOKEN=""
if [[ $RAN == 0 && -n "$OLD_TOKEN" && -d "$DIR/.storage" ]]; then
  start_hass; wait_http
  if token_works "$URL" "$OLD_TOKEN"; then TOKEN=$OLD_TOKEN; else stop_ours; fi
fi
if [[ -z "$TOKEN" ]]; then
  # A clean state directory: onboarding's user step can only be done once per storage.
  rm -rf "$DIR/.storage"
  start_hass; wait_http
  # Onboarding creates the owner and hands back an auth code; the code buys a short-lived access token,
  # and that token asks the WebSocket API for a long-lived one. aiohttp comes with Home Assistant.
  TOKEN=$("$PY" - "$URL" <<'PY'
import asyncio, secrets, sys
import aiohttp

async def main(url: str) -> str:
    client_id = url + "/"
    async with aiohttp.ClientSession() as http:
        owner = {"client_id": client_id, "name": "threshold", "username": "threshold",
                 "password": secrets.token_urlsafe(24), "language": "en"}
        async with http.post(url + "/api/onboarding/users", json=owner) as resp:
            resp.raise_for_status()
            code = (await resp.json())["auth_code"]
        form = {"grant_type": "authorization_code", "code": code, "client_id": client_id}
        async with http.post(url + "/auth/token", data=form) as resp:
            resp.raise_for_status()
            access = (await resp.json())["access_token"]
        async with http.ws_connect(url + "/api/websocket") as ws:
            await ws.receive_json()
            await ws.send_json({"type": "auth", "access_token": access})
            if (await ws.receive_json())["type"] != "auth_ok":
                raise SystemExit("auth failed")
            await ws.send_json({"id": 1, "type": "auth/long_lived_access_token",
                                "client_name": "threshold-tests", "lifespan": 3650})
            answer = await ws.receive_json()
            if not answer.get("success"):
                raise SystemExit(f"no long-lived token: {answer}")
            return str(answer["result"])

print(asyncio.run(main(sys.argv[1])))
PY
)
fi

# 5. Ready means running, with the demo's entities in place (the demo sets up through a config entry).
python3 - "$URL" "$TOKEN" <<'PY' || { say "Home Assistant did not finish starting; see $DIR/home-assistant.log"; exit 1; }
import json, sys, time, urllib.request
url, token = sys.argv[1], sys.argv[2]
headers = {"Authorization": "Bearer " + token}
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(urllib.request.Request(url + "/api/config", headers=headers), timeout=3) as r:
            running = json.load(r).get("state") == "RUNNING"
        with urllib.request.urlopen(urllib.request.Request(url + "/api/states", headers=headers), timeout=3) as r:
            ids = {s["entity_id"] for s in json.load(r)}
        if running and {"lock.front_door", "alarm_control_panel.security", "camera.demo_camera"} <= ids:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit(1)
PY
say "Home Assistant ready in $((SECONDS - started)) s"
emit "$URL" "$TOKEN"
