#!/usr/bin/env bash
# Stops the local cluster's kube-apiserver for $1 seconds (default 30), then starts it again with
# the command line it ran with; meanwhile its port stays bound (connections refused) so another
# local cluster cannot take it. A component that exited meanwhile (cluster-up.sh runs them
# without leader election, so none should) is started again the same way. Used by the fault-injection test in tests/roll_kwok.rs; KRAFTWERK_CLUSTER_NAME selects
# the cluster (kraftwerk-test under run-integration.sh).
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
seconds=${1:-30}
pids=$CLUSTER_DIR/pids
saved=$STATE/cmdlines
mkdir -p "$saved"

# Records each running component's command line (NUL-separated, as /proc has it).
snapshot() {
  local f name
  for f in "$pids"/*.pid; do
    name=$(basename "$f" .pid)
    cp "/proc/$(cat "$f")/cmdline" "$saved/$name"
  done
}

# Starts a component again from its recorded command line, in its own session and logging where
# kwokctl does; the pid file gets the component's own pid (the shell execs it).
relaunch() {
  local name=$1 args
  mapfile -d '' -t args <"$saved/$name"
  # shellcheck disable=SC2016  # expanded by the inner shell
  (cd "$CLUSTER_DIR" && setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pids/$name.pid" "${args[@]}" \
    >>"logs/$name.log" 2>&1 </dev/null &)
  sleep 0.5
  log "started $name again (pid $(cat "$pids/$name.pid"))"
}

# Keeps a port bound (not listening: connections are refused, as by a stopped server) for $2
# seconds, so that no other local cluster takes it while its server is down. SO_REUSEADDR: the
# stopped server's connections linger in TIME_WAIT. If the port still cannot be bound, the
# outage goes on without the hold (the server must come back whatever happens).
hold_port() {
  python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("0.0.0.0", int(sys.argv[1])))
except OSError as e:
    print(f"[apiserver-outage] port {sys.argv[1]} not held: {e}", file=sys.stderr)
time.sleep(float(sys.argv[2]))' "$1" "$2"
}

alive() { kill -0 "$(cat "$pids/$1.pid")" 2>/dev/null; }

snapshot
apiserver=$(cat "$pids/kube-apiserver.pid")
port=$(tr '\0' '\n' <"$saved/kube-apiserver" | sed -n 's/^--secure-port=//p')
kill "$apiserver"
while kill -0 "$apiserver" 2>/dev/null; do sleep 0.1; done
log "kube-apiserver stopped; starting it again in ${seconds}s"
hold_port "$port" "$seconds" || true
relaunch kube-apiserver
until api_ready; do sleep 0.5; done
log "kube-apiserver answers"
# Give the other components a moment to notice, then bring back those that gave up.
sleep 3
for f in "$saved"/*; do
  name=$(basename "$f")
  alive "$name" || relaunch "$name"
done
