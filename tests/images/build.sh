#!/usr/bin/env bash
# Builds the container images the real nodes run, as OCI archives under
# ~/.cache/kraftwerk/images/ (no Docker, no registry: tests/images/ocipack.py packs them and
# tests/node/import-image.sh loads them into each node's containerd).
#
#   tests/images/build.sh [pause|kafka|operator|all]...     (default: all)
#
#   pause     registry.k8s.io/pause:3.10    pause.c, static (Debian gcc)
#   kafka     docker.io/apache/kafka:4.3.1  Debian bookworm (debootstrap) + openjdk-17-jre-headless
#                                           + the Maven Kafka jars (tests/kafka/fetch.sh --image) laid out
#                                           as the official image: /opt/kafka/{bin,config,libs},
#                                           every script of Kafka's bin/ (tests/images/kafka/tools.list),
#                                           user appuser (1000), /etc/kafka/docker/run,
#                                           the JMX exporter agent + rules in /opt/kafka/jmx-exporter/
#   operator  $OPERATOR_IMAGE (the chart's image:  the operator, a static binary on an empty base,
#             repository:appVersion)       OCI labels source/version/revision (the Containerfile
#                                           does the same for users with Docker)
#
# Each archive is rebuilt only when its inputs changed (a stamp of their checksums), so a
# warm run takes about a second. Prints the archive paths.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../node/env.sh
. "$here/../node/env.sh"
mkdir -p "$IMAGES"
# One build at a time: CI builds images in the background while other work runs, and a second
# invocation (e2e, demo) waits here, then finds them up to date.
exec 9>"$IMAGES/.build.lock"
flock 9
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
# Prometheus' JMX exporter java agent (Maven Central), in the Kafka image with the rules of
# deploy/metrics/jmx-exporter-kafka.yaml (the operator starts Kafka with it; docs/metrics.md).
JMX_EXPORTER_VERSION=1.0.1
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$REPO/tests/kafka/pom.xml")
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The Debian architecture of this machine (amd64, arm64): debootstrap installs that JRE, whose
# directory name carries it.
DEB_ARCH=$(dpkg --print-architecture)
JAVA_HOME_IN_IMAGE=/usr/lib/jvm/java-17-openjdk-$DEB_ARCH
ROOTFS=$IMAGES/rootfs-$DEBIAN_SUITE-jre17
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(all)

# up_to_date <archive> <stamp text>: true when the archive exists and was built from the same inputs
up_to_date() { [ -f "$1" ] && [ -f "$1.inputs" ] && [ "$(cat "$1.inputs")" = "$2" ]; }
tree_sum() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }

build_pause() {
  local out=$IMAGES/pause.oci.tar src=$here/pause/pause.c stamp
  stamp="pause $(sha256sum "$src" "$here/ocipack.py" "$here/build.sh" | sha256sum | cut -c1-16)"
  if ! up_to_date "$out" "$stamp"; then
    local d
    d=$(mktemp -d "$IMAGES/.pause.XXXXXX")
    gcc -static -Os -s -o "$d/pause" "$src"
    python3 "$here/ocipack.py" --name registry.k8s.io/pause:3.10 --out "$out" --layer "$d" \
      --config '{"Entrypoint":["/pause"],"User":"65535:65535"}'
    rm -rf "$d"
    echo "$stamp" >"$out.inputs"
  fi
  echo "$out"
}

# The Debian root filesystem with Java 17, made once with debootstrap (a few minutes; cached).
build_rootfs() {
  [ -f "$ROOTFS/.complete" ] && return 0
  if ! command -v debootstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  fi
  log "debootstrap $DEBIAN_SUITE + openjdk-17-jre-headless into $ROOTFS (once; a few minutes)"
  # a finished debootstrap left by an interrupted run is reused
  if [ ! -x "$ROOTFS.tmp$JAVA_HOME_IN_IMAGE/bin/java" ]; then
    rm -rf "$ROOTFS.tmp"
    debootstrap --variant=minbase --include=openjdk-17-jre-headless "$DEBIAN_SUITE" "$ROOTFS.tmp" "$DEBIAN_MIRROR" \
      >"$IMAGES/debootstrap.log" 2>&1 || { tail -20 "$IMAGES/debootstrap.log" >&2; exit 1; }
  fi
  local r=$ROOTFS.tmp
  # the official image's user
  chroot "$r" sh -c 'id appuser >/dev/null 2>&1 || useradd -u 1000 -U -m -d /home/appuser -s /bin/bash appuser'
  # no package caches, docs or translations in the image
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/usr/share/doc/* "$r"/usr/share/man/* \
    "$r"/usr/share/info/* "$r"/usr/share/locale/* "$r"/var/log/*.log "$r"/var/cache/debconf/*-old "$r"/tmp/*
  find "$r/dev" -mindepth 1 -delete
  touch "$r/.complete"
  mv "$r" "$ROOTFS"
}

# gen_scripts <kafka dir> < tools.list: writes bin/<script> for every line (script, main class,
# options heap=... name=...), failing when a class is in no jar of <kafka dir>/libs; then checks
# that bin/ holds exactly the listed and the hand-written scripts (Kafka's whole bin/).
# shellcheck disable=SC2016 # the generated scripts expand these, not this one
gen_scripts() {
  local k=$1 script class opts path found j heap name want=()
  while read -r script class opts; do
    [[ -z $script || $script == \#* ]] && continue
    path=${class//.//}.class found=0
    for j in "$k/libs/"*.jar; do
      if unzip -l "$j" "$path" >/dev/null 2>&1; then found=1; break; fi
    done
    [ "$found" = 1 ] || { log "kafka image: $class ($script) is in no jar of Kafka $KAFKA_VERSION"; exit 1; }
    heap="" name=""
    for o in $opts; do
      case "$o" in
        heap=*) heap=${o#heap=}; heap=${heap//,/ } ;;
        name=*) name=${o#name=} ;;
        *) log "kafka image: unknown option $o of $script"; exit 1 ;;
      esac
    done
    {
      printf '#!/usr/bin/env bash\n# %s: Kafka %s %s (generated by kraftwerk tests/images/build.sh)\n' "$script" "$KAFKA_VERSION" "$class"
      [ -n "$heap" ] && printf '[ -n "$KAFKA_HEAP_OPTS" ] || export KAFKA_HEAP_OPTS="%s"\n' "$heap"
      if [ -n "$name" ]; then
        printf 'if [ $# -lt 1 ]; then echo "USAGE: $0 [-daemon] <worker properties>"; exit 1; fi\n'
        printf 'EXTRA_ARGS=${EXTRA_ARGS-"-name %s"}\n' "$name"
        printf 'if [ "$1" = -daemon ]; then EXTRA_ARGS="-daemon $EXTRA_ARGS"; shift; fi\n'
        printf '# shellcheck disable=SC2086\nexec "$(dirname "$0")/kafka-run-class.sh" $EXTRA_ARGS %s "$@"\n' "$class"
      else
        printf 'exec "$(dirname "$0")/kafka-run-class.sh" %s "$@"\n' "$class"
      fi
    } >"$k/bin/$script"
    want+=("$script")
  done
  for j in "$here/kafka/bin/"*.sh; do want+=("$(basename "$j")"); done
  local have expected
  have=$(cd "$k/bin" && ls | sort)
  expected=$(printf '%s\n' "${want[@]}" | sort -u)
  [ "$have" = "$expected" ] || { log "kafka image: bin/ differs from tools.list + bin/: $(diff <(echo "$expected") <(echo "$have") | tr '\n' ' ')"; exit 1; }
  log "kafka image: $(echo "$have" | wc -l) scripts in bin/"
}

# The JMX exporter agent jar, fetched once per version: prints its path.
fetch_jmx_exporter() {
  local dir=$CACHE/jmx-exporter-$JMX_EXPORTER_VERSION
  local jar=$dir/jmx_prometheus_javaagent-$JMX_EXPORTER_VERSION.jar
  if [ ! -s "$jar" ]; then
    log "fetching io.prometheus.jmx:jmx_prometheus_javaagent:$JMX_EXPORTER_VERSION from Maven Central"
    mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      "-Dartifact=io.prometheus.jmx:jmx_prometheus_javaagent:$JMX_EXPORTER_VERSION" "-DoutputDirectory=$dir" >&2
  fi
  echo "$jar"
}

build_kafka() {
  local libs out=$IMAGES/kafka-$KAFKA_VERSION.oci.tar stamp layer jmx rules=$REPO/deploy/metrics/jmx-exporter-kafka.yaml
  libs=$("$REPO/tests/kafka/fetch.sh" --image)
  jmx=$(fetch_jmx_exporter)
  build_rootfs
  stamp="kafka $KAFKA_VERSION $( (ls -l "$libs"; tree_sum "$here/kafka"; sha256sum "$here/ocipack.py" "$here/build.sh" "$ROOTFS/.complete" "$jmx" "$rules") | sha256sum | cut -c1-16)"
  if ! up_to_date "$out" "$stamp"; then
    layer=$(mktemp -d "$IMAGES/.kafka-layer.XXXXXX")
    local k=$layer/opt/kafka
    mkdir -p "$k/bin" "$k/config" "$k/libs" "$k/logs" "$layer/etc/kafka/docker" "$layer/etc/kafka/secrets" \
      "$layer/var/lib/kafka/data" "$layer/mnt/shared/config" "$layer/usr/logs"
    cp "$libs"/*.jar "$k/libs/"
    # kafka-clients brings slf4j-api 1.7.x, which ignores the SLF4J 2 provider
    # (log4j-slf4j2-impl) and logs nothing ("Defaulting to no-operation (NOP) logger"). The
    # Kafka distribution ships the SLF4J 1 binding, log4j-slf4j-impl; use it when needed.
    if compgen -G "$k/libs/slf4j-api-1.*.jar" >/dev/null && ! compgen -G "$k/libs/log4j-slf4j-impl-*.jar" >/dev/null; then
      local l4j
      l4j=$(basename "$(compgen -G "$k/libs/log4j-core-*.jar" | head -1)" .jar)
      l4j=${l4j#log4j-core-}
      mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
        "-Dartifact=org.apache.logging.log4j:log4j-slf4j-impl:$l4j" "-DoutputDirectory=$k/libs" >&2
      rm -f "$k/libs/"log4j-slf4j2-impl-*.jar
    fi
    cp "$here/kafka/bin/"*.sh "$k/bin/"
    cp "$here/kafka/config/"* "$k/config/"
    cp "$here/kafka/docker/run" "$layer/etc/kafka/docker/run"
    cp "$here/kafka/config/log4j2.yaml" "$layer/etc/kafka/docker/log4j2.yaml"
    # the metrics agent and its rules, outside libs/ (not on Kafka's class path)
    install -D -m 0644 "$jmx" "$k/jmx-exporter/jmx_prometheus_javaagent.jar"
    install -D -m 0644 "$rules" "$k/jmx-exporter/kafka.yaml"
    # one script per tool, each checked against the jars
    gen_scripts "$k" <"$here/kafka/tools.list"
    chmod 0755 "$k/bin/"*.sh "$layer/etc/kafka/docker/run"
    echo "$KAFKA_VERSION" >"$k/VERSION"
    # ownership as in the official image
    chown -R 1000:1000 "$layer/opt/kafka" "$layer/mnt/shared/config" "$layer/usr/logs"
    chown -R 1000:0 "$layer/var/lib/kafka" "$layer/etc/kafka"
    chmod -R ug+w "$layer/var/lib/kafka" "$layer/etc/kafka"
    python3 "$here/ocipack.py" --name "docker.io/apache/kafka:$KAFKA_VERSION" --out "$out" \
      --layer "$ROOTFS" --layer "$layer" --config "$(
        cat <<JSON
{"User":"appuser","Cmd":["/etc/kafka/docker/run"],
 "Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","JAVA_HOME=$JAVA_HOME_IN_IMAGE","LANG=C.UTF-8"],
 "ExposedPorts":{"9092/tcp":{},"9404/tcp":{}},
 "Volumes":{"/etc/kafka/secrets":{},"/var/lib/kafka/data":{},"/mnt/shared/config":{}},
 "Labels":{"org.opencontainers.image.title":"kafka","org.opencontainers.image.version":"$KAFKA_VERSION",
           "org.opencontainers.image.description":"Apache Kafka $KAFKA_VERSION (Maven Central jars) on Debian $DEBIAN_SUITE, OpenJDK 17; built by kraftwerk tests/images/build.sh"}}
JSON
      )"
    rm -rf "$layer"
    echo "$stamp" >"$out.inputs"
  fi
  echo "$out"
}

# The operator: a static binary (glibc, crt-static: this toolchain has only the gnu target)
# in its own target directory so the developer's incremental builds are left alone.
# KRAFTWERK_IMAGE_PROFILE picks the Cargo profile: `e2e` (default; optimised, no LTO,
# incremental: minutes cold, seconds after a change) for the local nodes, or `release` (thin
# LTO, what the Containerfile ships; several times slower to build).
build_operator() {
  local out=$OPERATOR_ARCHIVE stamp bin layer revision triple
  local profile=${KRAFTWERK_IMAGE_PROFILE:-e2e}
  # the platform this runs on: x86_64 or aarch64
  triple=$(uname -m)-unknown-linux-gnu
  revision=$(git -C "$REPO" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  # One target directory, shared by every checkout (warm dependencies). Cargo fingerprints the
  # crate by paths relative to the package and by file times, so after a build from another
  # checkout it could take that tree's newer build as fresh and ship it: when the checkout
  # changes, the crate's own fingerprints are dropped, so only the crate is rebuilt.
  local target=$CACHE/build/operator-target
  local last_repo=$target/.kraftwerk-repo
  if [ -d "$target" ] && [ "$(cat "$last_repo" 2>/dev/null)" != "$REPO" ]; then
    rm -rf "$target"/*/*/.fingerprint/kraftwerk-* "$target"/*/.fingerprint/kraftwerk-*
  fi
  mkdir -p "$target"
  printf '%s' "$REPO" >"$last_repo"
  log "building the operator from $REPO (profile $profile, static, in $target; warm: seconds)"
  (cd "$REPO" && RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR="$target" KRAFTWERK_GIT_REVISION="$revision" \
    nice cargo build --profile "$profile" --locked --target "$triple" --bin kraftwerk >&2)
  bin=$target/$triple/$profile/kraftwerk
  stamp="operator $OPERATOR_IMAGE $revision $(sha256sum "$bin" "$here/ocipack.py" "$here/build.sh" | sha256sum | cut -c1-16)"
  if ! up_to_date "$out" "$stamp"; then
    layer=$(mktemp -d "$IMAGES/.operator.XXXXXX")
    mkdir -p "$layer/usr/local/bin" "$layer/etc" "$layer/tmp"
    chmod 1777 "$layer/tmp"
    install -m 0755 "$bin" "$layer/usr/local/bin/kraftwerk"
    printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' >"$layer/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' >"$layer/etc/group"
    printf 'hosts: files dns\n' >"$layer/etc/nsswitch.conf"
    python3 "$here/ocipack.py" --name "$OPERATOR_IMAGE" --out "$out" --layer "$layer" --config "$(
      cat <<JSON
{"User":"65532:65532","Entrypoint":["/usr/local/bin/kraftwerk"],"Cmd":["run"],
 "Labels":{"org.opencontainers.image.title":"kraftwerk","org.opencontainers.image.version":"$OPERATOR_TAG",
           "org.opencontainers.image.revision":"$revision","org.opencontainers.image.source":"https://github.com/kraftwerk-dev/kraftwerk"}}
JSON
    )"
    rm -rf "$layer"
    echo "$stamp" >"$out.inputs"
  fi
  echo "$out"
}

for t in "${targets[@]}"; do
  case "$t" in
    pause) build_pause ;;
    kafka) build_kafka ;;
    operator) build_operator ;;
    all) build_pause; build_kafka; build_operator ;;
    *) log "unknown image '$t' (pause, kafka, operator, all)"; exit 2 ;;
  esac
done
