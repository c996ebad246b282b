#!/usr/bin/env bash
# Stops the kafka.Kafka JVMs running in this container (SIGTERM: a controlled shutdown).
pids=$(ps ax 2>/dev/null | grep -i 'kafka\.Kafka' | grep java | grep -v grep | awk '{print $1}')
[ -z "$pids" ] && pids=$(for p in /proc/[0-9]*; do grep -qa 'kafka\.Kafka' "$p/cmdline" 2>/dev/null && basename "$p"; done)
if [ -z "$pids" ]; then echo "No kafka server to stop"; exit 1; fi
kill -s TERM $pids
