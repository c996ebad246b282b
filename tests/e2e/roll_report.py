#!/usr/bin/env python3
"""Checks and figures of the e2e's operator-driven full roll (tests/e2e.sh, step 6).

Inputs, all recorded by tests/e2e.sh while the roll ran:
  --pods      the pod watch: `<epoch s>|<watch event>|<pod>|<uid>|<Ready status>|<deletionTimestamp>`
              lines, and `<epoch s>|RESYNC|||||` when the watch was restarted (a relist follows);
  --producer  Kafka's VerifiableProducer output (one JSON object per line: producer_send_success,
              producer_send_error, tool_data, ...), timestamps in epoch ms;
  --consumed  the values read back from the topic, one per line;
  --events    `kubectl get events.events.k8s.io -o json` of the namespace after the roll;
  --events-before  names of the events that existed before the patch (ignored).
Checks (each failure is printed, exit status 1):
  - every node pod had exactly 2 uids over the roll (restarted exactly once), the first one the uid
    it had before the patch;
  - one `Restarting` Event per node, none for anything else;
  - every controller restarted before the first broker;
  - never more than one of the nodes down at once (pod missing, terminating or not Ready);
  - every acknowledged value read back.
Writes the figures as JSON (--out) and prints one summary line.
"""
import argparse
import json
import re
import sys


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--pods", required=True)
    p.add_argument("--producer", required=True)
    p.add_argument("--consumed", required=True)
    p.add_argument("--events", required=True)
    p.add_argument("--events-before", required=True)
    p.add_argument("--cluster", required=True)
    p.add_argument("--nodes", required=True, help="comma-separated pod names: controllers, then brokers")
    p.add_argument("--before", required=True, help="comma-separated pod=uid before the patch")
    p.add_argument("--t-patch", type=float, required=True)
    p.add_argument("--t-done", type=float, required=True)
    p.add_argument("--t-kill", type=float, default=None)
    p.add_argument("--extra", default="{}", help="JSON object merged into the output")
    p.add_argument("--out", required=True)
    return p.parse_args()


def read_pod_watch(path):
    """[(t, type, name, uid, ready, deleting)] in file order."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("|")
            if len(parts) < 6:
                continue
            try:
                t = float(parts[0])
            except ValueError:
                continue
            rows.append((t, parts[1], parts[2], parts[3], parts[4], parts[5] != ""))
    return rows


def down_timeline(rows, nodes, t_from, t_to):
    """Replays the watch: the largest number of nodes down at once in [t_from, t_to], and when.

    A node is down when its pod is missing, terminating or not Ready. After a RESYNC the
    relisted pods (the lines of the next 2 s) replace the state; nothing is counted meanwhile."""
    state = {}  # name -> (uid, ready, deleting)
    worst, worst_at, worst_names = 0, None, []
    resync_until = None
    pending = None
    for t, typ, name, uid, ready, deleting in rows:
        if typ == "RESYNC":
            resync_until, pending = t + 2.0, {}
            continue
        if resync_until is not None:
            if t <= resync_until:
                if typ != "DELETED":
                    pending[name] = (uid, ready, deleting)
                continue
            state, resync_until, pending = pending, None, None
        if typ == "DELETED":
            if state.get(name, (None,))[0] == uid:
                state.pop(name, None)
        else:
            state[name] = (uid, ready, deleting)
        if t_from <= t <= t_to:
            down = [n for n in nodes if n not in state or state[n][2] or state[n][1] != "True"]
            if len(down) > worst:
                worst, worst_at, worst_names = len(down), t, down
    return worst, worst_at, worst_names


def main():
    a = parse_args()
    nodes = a.nodes.split(",")
    before = dict(kv.split("=", 1) for kv in a.before.split(","))
    problems = []

    # --- pods: uids, restart windows, order, nodes down at once -------------------------------
    rows = read_pod_watch(a.pods)
    uids = {n: [] for n in nodes}
    start = {}  # name -> first time its pre-roll pod was seen terminating or gone
    back = {}  # name -> first time its new pod was seen Ready
    for t, typ, name, uid, ready, deleting in rows:
        if name not in uids or typ == "RESYNC" or t > a.t_done + 1:
            continue
        if uid not in uids[name]:
            uids[name].append(uid)
        if uid == before.get(name) and (deleting or typ == "DELETED") and name not in start:
            start[name] = t
        if uid != before.get(name) and typ != "DELETED" and ready == "True" and not deleting and name not in back:
            back[name] = t
    for n in nodes:
        u = uids[n]
        if not u or u[0] != before[n]:
            problems.append(f"{n}: the watch did not see its pre-roll pod first (uids {u}, before {before[n]})")
        if len(u) != 2:
            problems.append(f"{n}: {len(u)} distinct pod uids during the roll, expected 2 (restarted exactly once): {u}")
        if n not in start:
            problems.append(f"{n}: its pre-roll pod was never seen terminating")
        if n not in back:
            problems.append(f"{n}: its new pod was never seen Ready")
    order = sorted(start, key=start.get)
    controllers = [n for n in nodes if "-controller-" in n]
    brokers = [n for n in nodes if "-broker-" in n]
    if controllers and brokers and all(n in start for n in nodes):
        last_c = max(start[n] for n in controllers)
        first_b = min(start[n] for n in brokers)
        if last_c >= first_b:
            problems.append(f"order: a broker restarted before every controller had: {order}")
    max_down, max_down_at, max_down_names = down_timeline(rows, nodes, a.t_patch, a.t_done)
    if max_down > 1:
        problems.append(
            f"{max_down} nodes down at once at +{max_down_at - a.t_patch:.1f}s: {', '.join(max_down_names)}"
        )

    # --- Events ---------------------------------------------------------------------------------
    with open(a.events_before, encoding="utf-8") as f:
        skip = {line.strip() for line in f if line.strip()}
    with open(a.events, encoding="utf-8") as f:
        events = json.load(f).get("items", [])
    restarting = {}
    for e in events:
        if e["metadata"]["name"] in skip or e.get("reason") != "Restarting":
            continue
        reg = e.get("regarding") or {}
        if reg.get("kind") != "KafkaCluster" or reg.get("name") != a.cluster:
            continue
        m = re.match(r"restarting (\S+)", e.get("note") or "")
        pod = m.group(1) if m else "?"
        count = max(1, int((e.get("series") or {}).get("count") or 1))
        restarting[pod] = restarting.get(pod, 0) + count
    for n in nodes:
        if restarting.get(n, 0) != 1:
            problems.append(f"{n}: {restarting.get(n, 0)} Restarting Events, expected 1")
    for pod in sorted(set(restarting) - set(nodes)):
        problems.append(f"unexpected Restarting Event for {pod} ({restarting[pod]})")

    # --- producer and consumer ------------------------------------------------------------------
    acks, errors, tool = [], [], None
    with open(a.producer, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            try:
                v = json.loads(line)
            except ValueError:
                continue
            name = v.get("name")
            if name == "producer_send_success":
                acks.append((v["timestamp"] / 1000.0, v["value"]))
            elif name == "producer_send_error":
                errors.append(v)
            elif name == "tool_data":
                tool = v
    acks.sort()
    acked = {v for _, v in acks}
    sent = tool["sent"] if tool else (max((int(v) for v in acked), default=-1) + 1)
    with open(a.consumed, encoding="utf-8", errors="replace") as f:
        read = [line.strip() for line in f if line.strip()]
    received = set(read)
    missing = sorted(acked - received, key=lambda v: int(v) if v.isdigit() else -1)
    if not acks:
        problems.append("the producer acknowledged nothing")
    if missing:
        problems.append(f"{len(missing)} acknowledged messages not read back, e.g. {missing[:10]}")

    # largest gap between consecutive acks: overall, and per restarted node (gaps that overlap
    # the time from its old pod terminating to its new pod Ready)
    gaps = [(acks[i + 1][0] - acks[i][0], acks[i][0], acks[i + 1][0]) for i in range(len(acks) - 1)]
    overall = max(gaps, default=(0.0, 0.0, 0.0))
    per_node = {}
    for n in nodes:
        if n in start and n in back:
            s, b = start[n], back[n]
            inside = [g for g in gaps if g[2] >= s and g[1] <= b]
            per_node[n] = {
                "down_s": round(b - s, 1),
                "max_ack_gap_s": round(max((g[0] for g in inside), default=0.0), 3),
                "restart_at_s": round(s - a.t_patch, 1),
            }

    out = {
        "roll_seconds": round(a.t_done - a.t_patch, 1),
        "operator_killed_at_s": round(a.t_kill - a.t_patch, 1) if a.t_kill else None,
        "restart_order": order,
        "max_nodes_down": max_down,
        "messages": {
            "sent": sent,
            "acknowledged": len(acked),
            "errors": len(errors),
            "received": len(received),
            "read_records": len(read),
            "missing": len(missing),
        },
        "max_ack_gap_s": round(overall[0], 3),
        "max_ack_gap_at_s": round(overall[1] - a.t_patch, 1) if acks else None,
        "nodes": per_node,
        "restarting_events": restarting,
        "problems": problems,
    }
    out.update(json.loads(a.extra))
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    worst_broker = max((per_node[n]["max_ack_gap_s"] for n in brokers if n in per_node), default=0.0)
    print(
        f"roll: {out['roll_seconds']}s (patch -> rollout COMPLETE), order {' '.join(o.split('-', 1)[-1] for o in order)}, "
        f"max nodes down {max_down}; messages sent {sent}, acknowledged {len(acked)}, errors {len(errors)}, "
        f"received {len(received)}, missing {len(missing)}; largest ack gap {overall[0]:.2f}s "
        f"(per broker restart up to {worst_broker:.2f}s)"
    )
    if errors:
        kinds = sorted({e.get("exception", "?") for e in errors})
        print(f"note: {len(errors)} send errors ({', '.join(kinds)})", file=sys.stderr)
    for p in problems:
        print(f"roll check: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
