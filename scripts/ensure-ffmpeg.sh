#!/usr/bin/env bash
# Make sure ffmpeg and ffprobe are on PATH and ffmpeg can burn text into video (the drawtext filter), which
# recordings and the simulated cameras need. Installs Debian's ffmpeg and DejaVu fonts when they are not.
set -euo pipefail

ready() {
  local filters
  command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || return 1
  # Captured first: `grep -q` quitting early would fail the pipe under pipefail.
  filters=$(ffmpeg -hide_banner -filters 2>/dev/null) || return 1
  grep -qw drawtext <<<"$filters"
}

if ready; then exit 0; fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO=(sudo -n); else
    echo "ffmpeg with drawtext is missing and installing it needs root (no sudo here): apt-get install ffmpeg fonts-dejavu-core" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "ffmpeg with drawtext is missing and apt-get is not available: install ffmpeg (with libfreetype) by hand" >&2
  exit 1
fi

# Through env: sudo would drop DEBIAN_FRONTEND from the environment.
install() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q ffmpeg fonts-dejavu-core >&2; }
echo "installing ffmpeg from Debian packages" >&2
# The package lists are refreshed only when the install fails without them: usually they are fresh enough.
if ! install; then
  "${SUDO[@]}" apt-get update -q >&2
  install || { echo "apt-get could not install ffmpeg; see the output above" >&2; exit 1; }
fi

if ! ready; then
  echo "ffmpeg is installed but ffprobe or the drawtext filter is still missing: $(command -v ffmpeg || echo 'no ffmpeg')" >&2
  exit 1
fi
