# Shared by the scripts that start servers for the tests. Source it; it defines functions only.

# our_pid PIDFILE PATTERN: print the pid in PIDFILE while that process is still ours (its command line holds
# PATTERN); fail otherwise, so a recycled pid is never taken for ours.
our_pid() {
  local pid
  [[ -f "$1" ]] || return 1
  pid=$(cat "$1")
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2" || return 1
  echo "$pid"
}

# apt_install WHAT PACKAGE...: install Debian packages (as root, or with sudo when there is one), refreshing the
# package lists only when the install fails without them; fail with a clear message when it cannot.
apt_install() {
  local what=$1; shift
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then sudo=(sudo -n); else
      echo "$what is missing and installing it needs root (no sudo here): apt-get install $*" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null; then
    echo "$what is missing and apt-get is not available: install $* by hand" >&2
    return 1
  fi
  echo "installing $what from Debian packages" >&2
  # Another install may hold dpkg's lock (two ensure scripts at once, unattended upgrades): wait for it.
  local wait=(-o DPkg::Lock::Timeout=600)
  # Through env: sudo would drop DEBIAN_FRONTEND from the environment.
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -q "$@" >&2; then
    "${sudo[@]}" apt-get "${wait[@]}" update -q >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -q "$@" >&2 || {
      echo "apt-get could not install $*; see the output above" >&2; return 1; }
  fi
}
