#!/usr/bin/env python3
"""Measurements of `make bench-scale` (tests/bench/scale.sh): snapshots of the operator
process and of the API server, the waits that need polling, and the report.

  scale.py free-port
  scale.py snapshot NAME              one snapshot into $BENCH_DIR/NAME.json
  scale.py wait-ready N SINCE         until N KafkaClusters of $BENCH_NS are Ready
  scale.py wait-resync N SINCE        until the operator has reconciled N times and then idles
  scale.py report                     the table on stdout, the JSON to $BENCH_JSON

Environment (set by scale.sh): BENCH_DIR, BENCH_NS, BENCH_JSON, OPERATOR_PID (absent while
no operator runs), OPERATOR_METRICS (its /metrics URL), KUBECTL, KUBECONFIG, CLUSTER_DIR.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
# Newest name first: the counter of every request (issue 12), then the older writes-only one.
OPERATOR_REQUEST_METRICS = ("kraftwerk_kube_requests_total", "kraftwerk_kube_write_requests_total")
# The kinds the operator reads and writes; the rest of the API server's traffic (kwok's node
# heartbeats, the control plane's leases) stays out of the headline figures (it is in "all").
OPERATOR_RESOURCES = {
    "kafkaclusters", "pods", "services", "configmaps", "persistentvolumeclaims",
    "poddisruptionbudgets", "events",
}
# Subresources used by the scheduler (binding), kwok and the controller manager (status), and
# the disruption controller (the scale of the PDB's pods' owner); the operator writes
# kafkaclusters/status only.
FOREIGN_SUBRESOURCES = {("pods", "binding"), ("pods", "status"), ("persistentvolumeclaims", "status"),
                        ("nodes", "status"), ("poddisruptionbudgets", "status"), ("kafkaclusters", "scale")}
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller")
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        sys.exit(f"scale.py: {name} is not set")
    return value


def samples(text, names):
    """(name, labels, value) of every sample of the metrics in `names`."""
    for line in text.splitlines():
        if not line or line[0] == "#" or not line.startswith(names):
            continue
        m = SAMPLE_RE.match(line)
        if m and m.group(1) in names:
            yield m.group(1), dict(LABEL_RE.findall(m.group(2) or "")), float(m.group(3))


# --- the operator process ---------------------------------------------------------------

def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def proc_memory_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0])
    return out


def http_text(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def operator_snapshot():
    pid = os.environ.get("OPERATOR_PID")
    if not pid:
        return None
    text = http_text(env("OPERATOR_METRICS"))
    metric = next((m for m in OPERATOR_REQUEST_METRICS if f"# TYPE {m.removesuffix('_total')} " in text), None)
    reconciles, requests = 0.0, {}
    for name, labels, value in samples(text, ("kraftwerk_reconcile_total", metric or "-")):
        if name == "kraftwerk_reconcile_total":
            reconciles = value
        else:
            verb = labels.get("verb", "?")
            requests[verb] = requests.get(verb, 0) + value
    mem = proc_memory_kib(pid)
    return {
        "pid": int(pid),
        "cpu_s": proc_cpu_seconds(pid),
        "rss_kib": mem["VmRSS"],
        "hwm_kib": mem["VmHWM"],
        "reconciles": reconciles,
        "requests_metric": metric,
        "requests": requests,
    }


def reconcile_total():
    text = http_text(env("OPERATOR_METRICS"))
    return next((v for _, _, v in samples(text, ("kraftwerk_reconcile_total",))), 0.0)


# --- the API server and the control plane -------------------------------------------------

def kubectl(*args, timeout=60):
    cmd = [env("KUBECTL"), "--kubeconfig", env("KUBECONFIG"), *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout).stdout


def apiserver_snapshot():
    text = kubectl("get", "--raw", "/metrics")
    requests, watches = {}, {}
    names = ("apiserver_request_total", "apiserver_longrunning_requests")
    for name, labels, value in samples(text, names):
        resource, sub, verb = labels.get("resource", ""), labels.get("subresource", ""), labels.get("verb", "")
        if name == "apiserver_request_total":
            key = f"{resource}|{sub}|{verb}"
            requests[key] = requests.get(key, 0) + value
        elif verb == "WATCH" and resource:
            watches[resource] = watches.get(resource, 0) + value
    return {"requests": requests, "open_watches": watches}


def control_plane_snapshot():
    out = {}
    for comp in CONTROL_PLANE:
        try:
            with open(os.path.join(env("CLUSTER_DIR"), "pids", f"{comp}.pid")) as f:
                pid = f.read().strip()
            out[comp] = {"cpu_s": proc_cpu_seconds(pid), "rss_kib": proc_memory_kib(pid)["VmRSS"]}
        except (OSError, ValueError, KeyError):
            continue
    return out


def cmd_snapshot(name):
    snap = {
        "name": name,
        "t": time.time(),
        "operator": operator_snapshot(),
        "apiserver": apiserver_snapshot(),
        "control_plane": control_plane_snapshot(),
    }
    with open(os.path.join(env("BENCH_DIR"), f"{name}.json"), "w") as f:
        json.dump(snap, f, indent=1)


# --- waits ------------------------------------------------------------------------------

def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def cmd_wait_ready(count, since, timeout=float(os.environ.get("BENCH_TIMEOUT", "3600"))):
    """Watches the KafkaClusters' Ready condition (a watch, not a poll: no LIST of every object
    each second) until `count` are Ready; prints, as JSON, the seconds from `since` until the
    first time half, 90 %, 99 % and all of them were Ready."""
    template = '{.metadata.name}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}'
    ready_at, deadline, last_report = {}, time.time() + timeout, 0.0
    while time.time() < deadline:
        cmd = [env("KUBECTL"), "--kubeconfig", env("KUBECONFIG"), "-n", env("BENCH_NS"),
               "get", "kafkaclusters", "--watch", "-o", f"jsonpath={template}"]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as watch:
            try:
                for line in watch.stdout:
                    name, _, status = line.strip().partition(" ")
                    now = time.time()
                    if status == "True":
                        ready_at.setdefault(name, now - since)
                    else:
                        ready_at.pop(name, None)
                    if len(ready_at) >= count:
                        times = sorted(ready_at.values())
                        print(json.dumps({f"p{int(q * 100)}_s": round(percentile(times, q), 1)
                                          for q in (0.5, 0.9, 0.99)} | {"all_s": round(times[-1], 1)}))
                        return
                    if now - last_report > 30:
                        last_report = now
                        print(f"[scale] {len(ready_at)}/{count} Ready after {now - since:.0f}s", file=sys.stderr)
                    if now > deadline:
                        break
            finally:
                watch.kill()
    sys.exit(f"scale.py: only {len(ready_at)}/{count} KafkaClusters Ready after {timeout:.0f}s")


def cmd_wait_resync(count, since, idle=float(os.environ.get("BENCH_RESYNC_IDLE", "10")),
                    timeout=float(os.environ.get("BENCH_TIMEOUT", "3600"))):
    """After a restart: the seconds until the reconcile counter reached `count` (every cluster
    reconciled at least once, if none twice) and until its last increase before `idle` seconds
    without one (the work queue drained: every cluster reconciled). Snapshots both moments."""
    first = last_change = None
    previous = -1.0
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = reconcile_total()
        except OSError:
            time.sleep(0.25)
            continue
        now = time.time()
        if value != previous:
            previous, last_change = value, now
        if first is None and value >= count:
            first = now - since
            cmd_snapshot("resync-first")
        if first is not None and now - last_change >= idle:
            cmd_snapshot("resync")
            print(json.dumps({"first_pass_s": round(first, 2), "drained_s": round(last_change - since, 2)}))
            return
        time.sleep(0.25)
    sys.exit(f"scale.py: {previous:.0f} reconciles, not {count} and idle, after {timeout:.0f}s")


# --- the report ---------------------------------------------------------------------------

def load(name):
    path = os.path.join(env("BENCH_DIR"), f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def diff_counts(a, b):
    keys = set(a) | set(b)
    return {k: round(b.get(k, 0) - a.get(k, 0)) for k in sorted(keys) if b.get(k, 0) - a.get(k, 0)}


def apiserver_window(a, b):
    """The API server's requests between two snapshots: by verb on the operator's resources,
    and every (resource|subresource|verb) that moved."""
    moved = diff_counts(a["apiserver"]["requests"], b["apiserver"]["requests"])
    by_verb = {}
    for key, n in moved.items():
        resource, sub, verb = key.split("|")
        if resource in OPERATOR_RESOURCES and (resource, sub) not in FOREIGN_SUBRESOURCES:
            by_verb[verb] = by_verb.get(verb, 0) + n
    return {"by_verb": by_verb, "total": sum(by_verb.values()), "all": moved}


def control_plane_cpu(a, b):
    out = {}
    for comp, end in b["control_plane"].items():
        start = a["control_plane"].get(comp)
        if start:
            out[comp] = round(end["cpu_s"] - start["cpu_s"], 2)
    return out


def operator_window(a, b):
    """The operator's figures between two snapshots of one process (a None start: the process
    started at b's window start, from zero)."""
    zero = {"cpu_s": 0.0, "reconciles": 0.0, "requests": {}}
    oa, ob = (a or {}).get("operator") or zero, b["operator"]
    return {
        "cpu_s": round(ob["cpu_s"] - oa["cpu_s"], 2),
        "reconciles": round(ob["reconciles"] - oa["reconciles"]),
        "requests": diff_counts(oa["requests"], ob["requests"]),
        "requests_metric": ob["requests_metric"],
    }


def window(a, b, operator_from=None):
    w = {"seconds": round(b["t"] - a["t"], 1)}
    w.update(operator_window(operator_from if operator_from is not None else a, b))
    w["requests_total"] = sum(w["requests"].values())
    w["apiserver"] = apiserver_window(a, b)
    w["control_plane_cpu_s"] = control_plane_cpu(a, b)
    return w


# The start-up of a process: one LIST per watched kind and the CRD check; anything beyond
# that in a resync scales with the clusters.
STARTUP_LISTS = 10


def count(by_verb, *verbs):
    return sum(n for verb, n in by_verb.items() if verb.upper() in verbs)


def zero_requests(report):
    """No request per no-op reconcile. The quiet window (when reconciles ran in it): nothing
    but WATCHes. The resync, whose reconciles are all no-ops: no request but LISTs and
    WATCHes, and no more LISTs than a start-up makes. Both the operator's counter and the API
    server's are taken, the larger counts; WATCHes are left out (the API server counts them
    when they end)."""
    def other(w):
        return max(count(w["requests"], "GET", "POST", "PUT", "PATCH", "DELETE", "CREATE", "UPDATE", "APPLY"),
                   count(w["apiserver"]["by_verb"], "GET", "POST", "PUT", "PATCH", "DELETE", "APPLY"))

    def lists(w):
        return max(count(w["requests"], "LIST"), count(w["apiserver"]["by_verb"], "LIST"))

    quiet, resync = report["quiet"], report.get("resync")
    verdicts = []
    if quiet["reconciles"]:
        verdicts.append(other(quiet) + lists(quiet) == 0)
    if resync:
        verdicts.append(other(resync) == 0 and lists(resync) <= STARTUP_LISTS)
    return all(verdicts) if verdicts else None


def mib(kib):
    return round(kib / 1024, 1)


def build_report(meta):
    s = {n: load(n) for n in ("idle", "apply", "ready", "quiet-start", "quiet-end", "restart", "resync-first", "resync")}
    n = meta["clusters"]
    report = dict(meta)
    report["rss_mib"] = {
        "idle": mib(s["idle"]["operator"]["rss_kib"]),
        "steady": mib(s["quiet-end"]["operator"]["rss_kib"]),
        "peak": mib(s["quiet-end"]["operator"]["hwm_kib"]),
        "after_restart": mib(s["resync"]["operator"]["rss_kib"]) if s["resync"] else None,
        "peak_after_restart": mib(s["resync"]["operator"]["hwm_kib"]) if s["resync"] else None,
    }
    report["create"] = window(s["apply"], s["ready"])
    report["quiet"] = window(s["quiet-start"], s["quiet-end"])
    if s["resync"]:
        resync = window(s["restart"], s["resync"], operator_from={})
        resync["requests_per_cluster"] = round(resync["requests_total"] / n, 2)
        resync["apiserver_requests_per_cluster"] = round(resync["apiserver"]["total"] / n, 2)
        first = window(s["restart"], s["resync-first"], operator_from={})
        resync["first_pass_cpu_s"] = first["cpu_s"]
        report["resync"] = resync
    windows = [report[w] for w in ("create", "quiet", "resync") if w in report]
    report["operator_requests_metric"] = next((w["requests_metric"] for w in windows if w["requests_metric"]), None)
    report["control_plane_rss_mib"] = {c: mib(v["rss_kib"]) for c, v in s["quiet-end"]["control_plane"].items()}
    report["targets"] = {
        "steady_rss_mib_max_48": report["rss_mib"]["steady"] <= 48,
        "resync_cpu_s_max_2": report.get("resync", {}).get("cpu_s", float("inf")) <= 2,
        "zero_requests_per_noop_reconcile": zero_requests(report),
    }
    return report


def verbs(d):
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"


def print_table(r):
    rows = [
        ("clusters (pods)", f"{r['clusters']} ({6 * r['clusters']})"),
        ("operator", f"code of {r['commit']} ({r['profile']} build, leader election {r['leader_election']})"),
        ("RSS idle / steady / peak", f"{r['rss_mib']['idle']} / {r['rss_mib']['steady']} / {r['rss_mib']['peak']} MiB"),
        ("first apply -> all Ready", f"{r['ready_times']['all_s']} s (half {r['ready_times']['p50_s']} s, "
                                     f"90 % {r['ready_times']['p90_s']} s, 99 % {r['ready_times']['p99_s']} s)"),
        ("  operator CPU, reconciles", f"{r['create']['cpu_s']} s, {r['create']['reconciles']}"),
        ("  operator requests", verbs(r["create"]["requests"])),
        ("  API server (operator's kinds)", verbs(r["create"]["apiserver"]["by_verb"])),
    ]
    q = r["quiet"]
    rows += [
        (f"quiet {q['seconds']:.0f} s: reconciles", str(q["reconciles"])),
        ("  operator CPU", f"{q['cpu_s']} s"),
        ("  operator requests", verbs(q["requests"])),
        ("  API server (operator's kinds)", verbs(q["apiserver"]["by_verb"])),
    ]
    if "resync" in r:
        rs = r["resync"]
        rows += [
            ("restart: all reconciled", f"{r['resync_times']['first_pass_s']} s (counter >= N), "
                                        f"{r['resync_times']['drained_s']} s (queue drained)"),
            ("  operator CPU", f"{rs['cpu_s']} s ({rs['first_pass_cpu_s']} s at counter >= N)"),
            ("  reconciles", str(rs["reconciles"])),
            ("  operator requests", f"{verbs(rs['requests'])} ({rs['requests_per_cluster']}/cluster)"),
            ("  API server (operator's kinds)", f"{verbs(rs['apiserver']['by_verb'])} "
                                                f"({rs['apiserver_requests_per_cluster']}/cluster)"),
            ("  RSS after / peak", f"{r['rss_mib']['after_restart']} / {r['rss_mib']['peak_after_restart']} MiB"),
        ]
    rows.append(("API server RSS (steady)", f"{r['control_plane_rss_mib'].get('kube-apiserver', '?')} MiB"))
    t = r["targets"]
    rows.append(("targets", f"RSS<=48MiB {t['steady_rss_mib_max_48']}, resync<=2s CPU {t['resync_cpu_s_max_2']}, "
                            f"0 requests/no-op reconcile {t['zero_requests_per_noop_reconcile']}"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"(operator requests from {r['operator_requests_metric'] or 'no request counter'}; "
          "API server WATCH requests are counted when they end: see open_watches in the JSON)")


def cmd_report():
    meta = json.loads(env("BENCH_META"))
    report = build_report(meta)
    for name in ("quiet-end", "resync"):
        snap = load(name)
        if snap:
            watches = snap["apiserver"]["open_watches"]
            report.setdefault("open_watches", {})[name] = {k: v for k, v in watches.items() if k in OPERATOR_RESOURCES}
    with open(env("BENCH_JSON"), "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    print_table(report)


def cmd_free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def main(argv):
    commands = {
        "free-port": lambda: cmd_free_port(),
        "snapshot": lambda: cmd_snapshot(argv[2]),
        "wait-ready": lambda: cmd_wait_ready(int(argv[2]), float(argv[3])),
        "wait-resync": lambda: cmd_wait_resync(int(argv[2]), float(argv[3])),
        "report": lambda: cmd_report(),
    }
    if len(argv) < 2 or argv[1] not in commands:
        sys.exit(__doc__)
    commands[argv[1]]()


if __name__ == "__main__":
    main(sys.argv)
