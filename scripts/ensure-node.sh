#!/usr/bin/env bash
# Make sure npm (and Node.js) are on PATH, which `make setup` needs to install the web portal's browser assets
# from package-lock.json. Installs Debian's nodejs and npm when npm is absent.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

if command -v npm >/dev/null && command -v node >/dev/null; then exit 0; fi

apt_install "nodejs and npm" nodejs npm

if ! command -v npm >/dev/null; then
  echo "nodejs and npm are installed but npm is still not on PATH" >&2
  exit 1
fi
