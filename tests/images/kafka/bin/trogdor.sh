#!/usr/bin/env bash
# trogdor.sh ACTION [options]: Kafka's Trogdor fault injector, as Apache Kafka's script.
# Written for kraftwerk's locally built image; actions and classes as upstream ("exec" runs the
# agent's --exec mode, which is where Kafka 4.3 has it).
usage() {
  printf '%s\n' "The Trogdor fault injector." "" "Usage:" "  $0 [action] [options]" "" "Actions:" \
    "  agent: Run the trogdor agent." "  exec: Execute the trogdor SPEC directly." \
    "  coordinator: Run the trogdor coordinator." \
    "  client: Run the client which communicates with the trogdor coordinator." \
    "  agent-client: Run the client which communicates with the trogdor agent." "  help: This help message."
}
[ $# -ge 1 ] || { usage; exit 0; }
action=$1
shift
case "$action" in
  agent) class=org.apache.kafka.trogdor.agent.Agent ;;
  coordinator) class=org.apache.kafka.trogdor.coordinator.Coordinator ;;
  client) class=org.apache.kafka.trogdor.coordinator.CoordinatorClient ;;
  agent-client) class=org.apache.kafka.trogdor.agent.AgentClient ;;
  exec) class=org.apache.kafka.trogdor.agent.Agent; set -- --exec "$@" ;;
  help) usage; exit 0 ;;
  *) echo "Unknown action '$action'.  Type '$0 help' for help."; exit 1 ;;
esac
exec "$(dirname "$0")/kafka-run-class.sh" "$class" "$@"
