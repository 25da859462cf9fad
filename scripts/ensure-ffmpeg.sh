#!/usr/bin/env bash
# Make sure ffmpeg and ffprobe are on PATH and ffmpeg can burn text into video (the drawtext filter), which
# recordings and the simulated cameras need. Installs Debian's ffmpeg and DejaVu fonts when they are not.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

ready() {
  local filters
  command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || return 1
  # Captured first: `grep -q` quitting early would fail the pipe under pipefail.
  filters=$(ffmpeg -hide_banner -filters 2>/dev/null) || return 1
  grep -qw drawtext <<<"$filters"
}

if ready; then exit 0; fi

apt_install "ffmpeg" ffmpeg fonts-dejavu-core

if ! ready; then
  echo "ffmpeg is installed but ffprobe or the drawtext filter is still missing: $(command -v ffmpeg || echo 'no ffmpeg')" >&2
  exit 1
fi
