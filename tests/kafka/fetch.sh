#!/usr/bin/env bash
# Fetch the pinned Kafka runtime (tests/kafka/pom.xml) from Maven Central into
#   ~/.cache/kraftwerk/kafka-<version>/libs
# and print that directory on stdout. Idempotent: when the stamp file matches the
# POM's checksum the jars are reused and the script returns in well under a second.
# Maven's local repository defaults to ~/.m2/repository (override with MAVEN_REPO_LOCAL).
#
#   fetch.sh --image   the Kafka image's jars instead (tests/images/kafka/pom.xml: these plus
#                      the tools' jars the tests do not need), in ~/.cache/kraftwerk/kafka-<version>-image/libs
#   KAFKA_VERSION=4.2.2 fetch.sh
#                      another release with the same POM (the upgrade tests' older version), in
#                      ~/.cache/kraftwerk/kafka-4.2.2/libs
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/pom.xml"
pinned="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
version="${KAFKA_VERSION:-$pinned}"
plugin_version="$(sed -n 's:.*<maven-dependency-plugin.version>\(.*\)</maven-dependency-plugin.version>.*:\1:p' "$pom")"
cache="${KRAFTWERK_CACHE:-$HOME/.cache/kraftwerk}/kafka-$version"
# The pinned release keeps its stamp (the POM's checksum); another release's names its version.
extra=""
if [[ "$version" != "$pinned" ]]; then extra="$version"; fi
want="$( (cat "$pom"; echo -n "$extra") | sha256sum | cut -d' ' -f1)"
resolve_pom=$pom
if [[ "${1:-}" == "--image" ]]; then
  resolve_pom="$here/../images/kafka/pom.xml"
  cache="$cache-image"
  want="$( (cat "$pom" "$resolve_pom"; echo -n "$extra") | sha256sum | cut -d' ' -f1)"
fi
libs="$cache/libs"
stamp="$cache/.pom.sha256"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && compgen -G "$libs/kafka_2.13-$version.jar" >/dev/null; then
  echo "$libs"
  exit 0
fi

mkdir -p "$cache"
tmp="$(mktemp -d "$cache/libs.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

mvn_args=(-B -q -f "$resolve_pom" "-Dkafka.version=$version")
if [[ -n "${MAVEN_REPO_LOCAL:-}" ]]; then mvn_args+=("-Dmaven.repo.local=$MAVEN_REPO_LOCAL"); fi
echo "fetch.sh: resolving Kafka $version with maven-dependency-plugin $plugin_version" >&2
mvn "${mvn_args[@]}" \
  "org.apache.maven.plugins:maven-dependency-plugin:$plugin_version:copy-dependencies" \
  -DincludeScope=runtime -DoutputDirectory="$tmp" >&2

# Guard against a future move of the classes the runner uses.
core_jar="$tmp/kafka_2.13-$version.jar"
[[ -f "$core_jar" ]] || { echo "fetch.sh: $core_jar missing" >&2; exit 1; }
for cls in kafka/Kafka.class kafka/tools/StorageTool.class; do
  if ! unzip -l "$core_jar" "$cls" >/dev/null 2>&1; then
    echo "fetch.sh: $cls not found in $core_jar" >&2
    exit 1
  fi
done

rm -rf "$libs"
mv "$tmp" "$libs"
trap - EXIT
echo "$want" >"$stamp"
echo "$libs"
