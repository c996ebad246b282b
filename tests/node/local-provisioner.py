#!/usr/bin/env python3
"""A minimal dynamic provisioner for the real test nodes (StorageClass kraftwerk-local,
provisioner kraftwerk.dev/local-path, volumeBindingMode WaitForFirstConsumer).

It follows the external-provisioner protocol through kubectl:
- a Pending PVC of that class whose pod was scheduled carries the annotation
  volume.kubernetes.io/selected-node; the provisioner creates a directory
  $VOLUME_ROOT/<node>/<pv name> and a `local` PersistentVolume pinned to that node
  (nodeAffinity on kubernetes.io/hostname) and pre-bound to the claim (claimRef);
  the controller manager binds them and the scheduler places the pod;
- a Released PV it provisioned (its claim was deleted) is removed with its directory
  (reclaimPolicy Delete).

All real nodes share this machine's filesystem; nodeAffinity is what keeps a volume
with its node, as local volumes do on a real cluster. Env: KUBECTL, KUBECONFIG,
VOLUME_ROOT, PROVISION_INTERVAL (s).
"""
import json
import os
import shutil
import subprocess
import sys
import time

CLASS = "kraftwerk-local"
PROVISIONER = "kraftwerk.dev/local-path"
KUBECTL = os.environ.get("KUBECTL", "kubectl")
ROOT = os.environ.get("VOLUME_ROOT", "/var/lib/kraftwerk/volumes")
INTERVAL = float(os.environ.get("PROVISION_INTERVAL", "2"))


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def kubectl(*args, stdin=None):
    r = subprocess.run([KUBECTL, "--request-timeout=10s", *args], input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip())
    return r.stdout


def class_ok():
    try:
        sc = json.loads(kubectl("get", "storageclass", CLASS, "-o", "json"))
        return sc.get("provisioner") == PROVISIONER
    except RuntimeError:
        return False


def provision(pvc):
    meta, spec = pvc["metadata"], pvc["spec"]
    node = meta.get("annotations", {}).get("volume.kubernetes.io/selected-node")
    if not node:
        return
    name = "pvc-" + meta["uid"]
    path = os.path.join(ROOT, node, name)
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o777)  # any uid; the pod's fsGroup is not applied to local volumes
    size = spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
                     "labels": {"kraftwerk.dev/local-path-node": node}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": CLASS,
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "local": {"path": path},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                         "name": meta["name"], "uid": meta["uid"]},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}},
        },
    }
    try:
        kubectl("create", "-f", "-", stdin=json.dumps(pv))
        log(f"provisioned {name} for {meta['namespace']}/{meta['name']} on {node} ({size})")
    except RuntimeError as e:
        if "AlreadyExists" not in str(e):
            log(f"create {name}: {e}")


def reclaim(pv):
    name = pv["metadata"]["name"]
    path = pv["spec"].get("local", {}).get("path", "")
    if path.startswith(ROOT + "/"):
        shutil.rmtree(path, ignore_errors=True)
    try:
        kubectl("delete", "pv", name, "--wait=false")
        log(f"deleted {name} (released)")
    except RuntimeError as e:
        log(f"delete {name}: {e}")


def main():
    log(f"local-path provisioner: class {CLASS}, volumes under {ROOT}")
    while True:
        try:
            if class_ok():
                pvcs = json.loads(kubectl("get", "pvc", "-A", "-o", "json"))["items"]
                for pvc in pvcs:
                    if pvc["spec"].get("storageClassName") == CLASS and pvc.get("status", {}).get("phase") == "Pending" \
                            and not pvc["spec"].get("volumeName"):
                        provision(pvc)
                pvs = json.loads(kubectl("get", "pv", "-o", "json"))["items"]
                for pv in pvs:
                    ann = pv["metadata"].get("annotations", {})
                    if ann.get("pv.kubernetes.io/provisioned-by") == PROVISIONER and \
                            pv.get("status", {}).get("phase") in ("Released", "Failed"):
                        reclaim(pv)
        except Exception as e:  # keep serving; the API may be restarting
            log(f"error: {e}")
        time.sleep(INTERVAL)


if __name__ == "__main__":
    sys.exit(main())
