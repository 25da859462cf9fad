#!/usr/bin/env bash
# Make sure npm (and Node.js) are on PATH, which `make setup` needs to install the web portal's browser assets
# from package-lock.json. Installs Debian's nodejs and npm when npm is absent.
set -euo pipefail

if command -v npm >/dev/null && command -v node >/dev/null; then exit 0; fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO=(sudo -n); else
    echo "npm is missing and installing it needs root (no sudo here): apt-get install nodejs npm" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "npm is missing and apt-get is not available: install Node.js and npm by hand" >&2
  exit 1
fi

# Through env: sudo would drop DEBIAN_FRONTEND from the environment.
install() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >&2; }
echo "installing nodejs and npm from Debian packages" >&2
# The package lists are refreshed only when the install fails without them: usually they are fresh enough.
if ! install; then
  "${SUDO[@]}" apt-get update -q >&2
  install || { echo "apt-get could not install nodejs and npm; see the output above" >&2; exit 1; }
fi

if ! command -v npm >/dev/null; then
  echo "nodejs and npm are installed but npm is still not on PATH" >&2
  exit 1
fi
