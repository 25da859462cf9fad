#!/usr/bin/env bash
# Print a PostgreSQL URL that the tests can use: a reachable server on loopback, or one started here.
# Installs PostgreSQL from Debian's packages when it is absent. Never binds beyond 127.0.0.1.
set -euo pipefail
if [[ -n "${THRESHOLD_TEST_PG_URL:-}" ]]; then echo "$THRESHOLD_TEST_PG_URL"; exit 0; fi
for port in 5432 55432; do
  if pg_isready -q -h 127.0.0.1 -p "$port" 2>/dev/null && psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
    echo "postgresql+asyncpg://postgres@127.0.0.1:${port}/postgres"; exit 0
  fi
done
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "installing postgresql from Debian packages" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
fi
BIN=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
DATA="${PWD}/.threshold/pg"
PORT=55432
mkdir -p "$DATA"
RUNAS=()
if [[ $(id -u) -eq 0 ]]; then chown -R postgres "$(dirname "$DATA")" "$DATA"; RUNAS=(runuser -u postgres --); fi
if [[ ! -f "$DATA/PG_VERSION" ]]; then
  "${RUNAS[@]}" "$BIN/initdb" -D "$DATA" -U postgres --auth=trust >&2
fi
"${RUNAS[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k /tmp -c max_connections=300 -c fsync=off" start >&2
echo "postgresql+asyncpg://postgres@127.0.0.1:${PORT}/postgres"
