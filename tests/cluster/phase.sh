#!/usr/bin/env bash
# phase.sh NAME CMD...: runs CMD with a header and its wall time; keeps CMD's exit code.
set -uo pipefail
name=$1; shift
printf '\n==> %s\n' "$name"
t0=$(date +%s)
"$@"
rc=$?
dt=$(($(date +%s) - t0))
if [ "$rc" = 0 ]; then
  printf '==> %s ok (%dm%02ds)\n' "$name" $((dt / 60)) $((dt % 60))
else
  printf '==> %s FAILED with exit code %d (%dm%02ds)\n' "$name" "$rc" $((dt / 60)) $((dt % 60))
fi
exit "$rc"
