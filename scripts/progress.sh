# Sourced by setup.sh and install-local-stack.sh: quiet commands with a sign of life.
#
#   PREFIX="[setup]"                 the tag in front of every line
#   SETUP_LOG=/path/to/file          when set, commands' own output goes there, not to the terminal
#   say TEXT                         one progress line (also copied into $SETUP_LOG)
#   run_logged TEXT CMD [ARG…]       with SETUP_LOG: prints "PREFIX TEXT", a dot every 10 s while CMD runs,
#                                    then "ok (1m05s)" or "failed"; returns CMD's status.
#                                    Without SETUP_LOG: prints the line and lets CMD talk to the terminal.
# Note: CMD runs in a condition (set -e is off inside it): chain a function's commands with &&.

PREFIX="${PREFIX:-[setup]}"
_TICKER=""

say() {
  printf '%s %s\n' "$PREFIX" "$*"
  if [ -n "${SETUP_LOG:-}" ]; then printf '%s %s\n' "$PREFIX" "$*" >>"$SETUP_LOG"; fi
}

duration() {  # seconds -> 42s | 3m12s
  local s=$1
  if [ "$s" -ge 60 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

stop_ticker() {
  if [ -n "$_TICKER" ]; then
    kill "$_TICKER" 2>/dev/null || true
    wait "$_TICKER" 2>/dev/null || true
    _TICKER=""
  fi
}

run_logged() {
  local what=$1 rc=0 start=$SECONDS
  shift
  if [ -z "${SETUP_LOG:-}" ]; then
    say "$what"
    "$@" || rc=$?
    return $rc
  fi
  printf '%s %s' "$PREFIX" "$what"
  printf '\n=== %s %s %s\n$ %s\n' "$(date '+%F %T')" "$PREFIX" "$what" "$*" >>"$SETUP_LOG"
  # The ticker sleeps in 1 s slices so that it is gone at once when stopped.
  ( n=0; while sleep 1; do
      n=$((n + 1))
      if [ "$n" = 10 ]; then printf ' .'; elif [ $((n % 10)) = 0 ]; then printf '.'; fi
    done ) &
  _TICKER=$!
  "$@" >>"$SETUP_LOG" 2>&1 </dev/null || rc=$?
  stop_ticker
  if [ "$rc" = 0 ]; then
    printf ' ok (%s)\n' "$(duration $((SECONDS - start)))"
  else
    printf ' failed (exit %s after %s)\n' "$rc" "$(duration $((SECONDS - start)))"
  fi
  printf '=== exit %s after %s\n' "$rc" "$(duration $((SECONDS - start)))" >>"$SETUP_LOG"
  return $rc
}
