#!/usr/bin/env python3
"""Pack directories into an OCI image archive (oci-layout + index.json + blobs), no registry,
no daemon, Python's standard library only.

    ocipack.py --name docker.io/apache/kafka:4.3.1 --out kafka.oci.tar \
        --layer /path/rootfs --layer /path/kafka-layer \
        --config '{"User":"1000","Entrypoint":["/etc/kafka/docker/run"],...}'

Each --layer directory becomes one uncompressed layer (its contents at /). Ownership, modes,
symlinks and hard links are kept; device nodes and the contents of /proc, /sys and /dev are
left out (the runtime provides them). Entries are sorted and mtimes clamped to
SOURCE_DATE_EPOCH when set, so the same input gives the same digests.

The index carries both `io.containerd.image.name` (the full reference, which
`ctr images import` uses as the image name) and `org.opencontainers.image.ref.name`.
"""
import argparse
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile
import time

# The platform this runs on, in OCI terms (the images are built for it).
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)

SKIP_CONTENT = {"proc", "sys", "dev"}


class HashingWriter(io.RawIOBase):
    def __init__(self, f):
        self.f = f
        self.h = hashlib.sha256()
        self.n = 0

    def writable(self):
        return True

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return self.f.write(b)


def add_tree(tar, root, epoch):
    def entry(path, arc):
        ti = tar.gettarinfo(path, arcname=arc)
        if ti is None:  # sockets
            return
        if ti.ischr() or ti.isblk() or ti.isfifo():
            return
        ti.uname = ti.gname = ""
        if epoch is not None and ti.mtime > epoch:
            ti.mtime = epoch
        if ti.isreg():
            with open(path, "rb") as f:
                tar.addfile(ti, f)
        else:
            tar.addfile(ti)

    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        dirnames.sort()
        if rel == ".":
            # keep the skipped top-level directories themselves, not their contents
            for d in list(dirnames):
                if d in SKIP_CONTENT:
                    entry(os.path.join(dirpath, d), d)
                    dirnames.remove(d)
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            p = os.path.join(dirpath, name)
            arc = name if rel == "." else os.path.join(rel, name)
            entry(p, arc)
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if os.path.islink(p):
                continue
            arc = d if rel == "." else os.path.join(rel, d)
            entry(p, arc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", action="append", required=True,
                    help="full image reference, e.g. docker.io/apache/kafka:4.3.1 (repeatable)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--layer", action="append", required=True)
    ap.add_argument("--config", default="{}", help="JSON for the image config's `config` object")
    args = ap.parse_args()
    epoch = int(os.environ["SOURCE_DATE_EPOCH"]) if "SOURCE_DATE_EPOCH" in os.environ else None
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch if epoch is not None else time.time()))

    outdir = os.path.dirname(os.path.abspath(args.out))
    with tempfile.TemporaryDirectory(dir=outdir, prefix=".ocipack.") as tmp:
        blobs = []  # (digest, size, path)
        diff_ids = []
        layers = []
        for i, d in enumerate(args.layer):
            lp = os.path.join(tmp, f"layer{i}.tar")
            with open(lp, "wb") as f:
                hw = HashingWriter(f)
                with tarfile.open(fileobj=hw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    add_tree(tar, d, epoch)
            dg = "sha256:" + hw.h.hexdigest()
            size = os.path.getsize(lp)
            diff_ids.append(dg)
            layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": dg, "size": size})
            blobs.append((dg, size, lp))
            print(f"ocipack: layer {i} {d}: {size // 1048576} MiB {dg[:19]}", file=sys.stderr)

        def blob_json(obj):
            data = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
            dg = "sha256:" + hashlib.sha256(data).hexdigest()
            p = os.path.join(tmp, dg.split(":")[1])
            with open(p, "wb") as f:
                f.write(data)
            blobs.append((dg, len(data), p))
            return dg, len(data)

        config = {
            "created": created,
            "architecture": ARCH,
            "os": "linux",
            "config": json.loads(args.config),
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": created, "created_by": "tests/images/ocipack.py"} for _ in layers],
        }
        cdg, csize = blob_json(config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdg, "size": csize},
            "layers": layers,
        }
        mdg, msize = blob_json(manifest)
        def entry(name):
            tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
            return {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": mdg,
                "size": msize,
                "platform": {"architecture": ARCH, "os": "linux"},
                "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag},
            }
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [entry(n) for n in args.name],
        }
        tmp_out = args.out + ".tmp"
        with tarfile.open(tmp_out, "w", format=tarfile.PAX_FORMAT) as out:
            def add_bytes(name, data):
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                ti.mode = 0o644
                ti.mtime = epoch or 0
                out.addfile(ti, io.BytesIO(data))
            add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            add_bytes("index.json", json.dumps(index, separators=(",", ":")).encode())
            seen = set()
            for dg, size, p in blobs:
                if dg in seen:
                    continue
                seen.add(dg)
                ti = tarfile.TarInfo("blobs/sha256/" + dg.split(":")[1])
                ti.size = size
                ti.mode = 0o644
                ti.mtime = epoch or 0
                with open(p, "rb") as f:
                    out.addfile(ti, f)
        os.replace(tmp_out, args.out)
        print(f"ocipack: wrote {args.out} ({', '.join(args.name)}, manifest {mdg[:19]})", file=sys.stderr)


if __name__ == "__main__":
    main()
