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
