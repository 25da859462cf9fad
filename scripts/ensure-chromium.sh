#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium, where the browser tests (tests/web) launch it through
# Playwright, and print its path. Installs Debian's chromium when it is absent; never downloads a browser.
set -euo pipefail

BIN=/usr/bin/chromium
if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO=(sudo -n); else
    echo "chromium is missing and installing it needs root (no sudo here): apt-get install chromium" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "chromium is missing and apt-get is not available: install Chromium at $BIN by hand" >&2
  exit 1
fi

# Through env: sudo would drop DEBIAN_FRONTEND from the environment.
install() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2; }
echo "installing chromium from Debian packages" >&2
# The package lists are refreshed only when the install fails without them: usually they are fresh enough.
if ! install; then
  "${SUDO[@]}" apt-get update -q >&2
  install || { echo "apt-get could not install chromium; see the output above" >&2; exit 1; }
fi

if [[ ! -x "$BIN" ]]; then
  echo "chromium is installed but $BIN is still missing" >&2
  exit 1
fi
echo "$BIN"
