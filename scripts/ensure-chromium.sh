#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium, where the browser tests (tests/web) launch it through
# Playwright, and print its path. Installs Debian's chromium when it is absent; never downloads a browser.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

BIN=/usr/bin/chromium
if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi

apt_install "chromium" chromium

if [[ ! -x "$BIN" ]]; then
  echo "chromium is installed but $BIN is still missing" >&2
  exit 1
fi
echo "$BIN"
