# kraftwerk developer commands. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

CARGO ?= cargo
KIND ?= kind
KIND_CLUSTER ?= kraftwerk
# The operator image: repository from the chart's values, tag = the chart's appVersion (one place).
IMAGE ?= $(shell sed -n 's/^  repository: *//p' charts/kraftwerk/values.yaml | head -1):$(shell sed -n 's/^appVersion: *"*\([^"]*\)"*/\1/p' charts/kraftwerk/Chart.yaml)
WORK := $(CURDIR)/.work
# The older Kafka release of the upgrade test (tests/upgrade_kafka.rs).
KAFKA_UPGRADE_FROM ?= 4.2.2

.PHONY: help build crds fmt fmt-check clippy unit crd-check test-integration test test-kafka e2e \
	binaries cluster-up cluster-down cluster-rss demo demo-down kind-up kind-deploy kind-down bench bench-scale \
	nodes-up nodes-down nodes-smoke images image deploy-manifest chart-lint install

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build the operator (debug)
	$(CARGO) build --bins

PREFIX ?= $(HOME)/.local
install: ## install kraftwerk and the kubectl plugin kubectl-kraftwerk (a symlink to it) into $(PREFIX)/bin
	$(CARGO) install --locked --path . --root $(PREFIX)
	ln -sfn kraftwerk $(PREFIX)/bin/kubectl-kraftwerk

crds: ## regenerate crds/kafkacluster.yaml and crds/kafkauser.yaml (and the chart's copies) from the Rust types
	@mkdir -p crds
	$(CARGO) run -q -- crd > crds/kafkacluster.yaml.tmp
	@mv crds/kafkacluster.yaml.tmp crds/kafkacluster.yaml
	$(CARGO) run -q -- crd kafkauser > crds/kafkauser.yaml.tmp
	@mv crds/kafkauser.yaml.tmp crds/kafkauser.yaml
	@cp crds/kafkacluster.yaml charts/kraftwerk/crds/kafkacluster.yaml
	@cp crds/kafkauser.yaml charts/kraftwerk/crds/kafkauser.yaml

fmt: ## format the Rust code
	$(CARGO) fmt --all

fmt-check: ## check formatting
	$(CARGO) fmt --all -- --check

clippy: ## lint, warnings are errors
	$(CARGO) clippy --all-targets -- -D warnings

unit: ## unit tests and every non-ignored test target (no cluster needed)
	$(CARGO) test

crd-check: ## fail if crds/ or the chart's crds/ differ from what the code generates (run `make crds` to fix)
	$(CARGO) test --test crd_drift

test-integration: ## integration tests against a local kwok cluster that this target starts and stops
	tests/cluster/run-integration.sh

test-kafka: ## real-Kafka tests (filled in by the Kafka work)
	tests/kafka/fetch.sh >/dev/null
	KAFKA_VERSION=$(KAFKA_UPGRADE_FROM) tests/kafka/fetch.sh >/dev/null
	$(CARGO) test --no-fail-fast --test kafka_boot --test kafka_admin --test kafka_rack --test roll_kafka --test rebalance_kafka --test upgrade_kafka --test security_kafka -- --ignored --nocapture --test-threads=1

e2e: ## end-to-end on 3 real nodes: operator in-cluster, 3+3 Kafka, acks=all produce/consume, broker restart, cleanup
	tests/e2e.sh

nodes-up: ## join 3 real kubelet nodes (containerd, runc, CNI, kube-proxy, CoreDNS) to the local cluster
	tests/node/node-up.sh

nodes-down: ## remove the real nodes, leaving nothing behind
	tests/node/node-down.sh

nodes-smoke: ## a 3-node Kafka as plain pods on the real nodes (no operator)
	tests/node/smoke.sh

images: ## pause, Kafka and operator OCI archives (no registry needed)
	tests/images/build.sh all

image: ## the operator image as an OCI archive (release profile; ~/.cache/kraftwerk/images/), as the e2e builds it
	KRAFTWERK_IMAGE_PROFILE=$${KRAFTWERK_IMAGE_PROFILE:-release} tests/images/build.sh operator

deploy-manifest: ## render deploy/operator.yaml from the Helm chart (a test checks they agree)
	@tests/chart/render-deploy.sh > deploy/operator.yaml.tmp
	@mv deploy/operator.yaml.tmp deploy/operator.yaml

chart-lint: ## helm lint --strict the chart, default and namespace-scoped values
	@tests/cluster/build-binaries.sh >/dev/null
	@tests/chart/lint.sh

test: ## everything CI runs: fmt, clippy, unit, CRD drift, integration, Kafka, end-to-end on real nodes
	@tests/cluster/phase.sh fmt-check $(MAKE) fmt-check
	@tests/cluster/phase.sh clippy $(MAKE) clippy
	@tests/cluster/phase.sh unit $(MAKE) unit
	@tests/cluster/phase.sh crd-check $(MAKE) crd-check
	@tests/cluster/phase.sh test-integration $(MAKE) test-integration
	@tests/cluster/phase.sh test-kafka $(MAKE) test-kafka
	@tests/cluster/phase.sh e2e $(MAKE) e2e

binaries: ## build (or find cached) kube-apiserver, etcd, kwok, ... from the Go module proxy
	@tests/cluster/build-binaries.sh

cluster-up: ## start (or reuse) the local cluster; kubeconfig in .work/kubeconfig
	@tests/cluster/cluster-up.sh

cluster-down: ## stop the demo (real nodes, operator) and delete the local cluster
	@tests/demo.sh --stop-operator
	@if [ "$$(id -u)" = 0 ]; then tests/node/node-down.sh; fi
	@tests/cluster/cluster-down.sh

cluster-rss: ## resident memory of each control-plane process
	@tests/cluster/rss.sh

demo: ## real Kafka on 3 real local nodes: cluster, images, nodes, operator in-cluster, deploy/examples/minimal.yaml
	@tests/demo.sh

demo-down: cluster-down ## stop the demo (operator and cluster)

bench: ## benchmarks: the pure reconcile pipeline (release build)
	$(CARGO) bench --bench pipeline

bench-scale: ## scale benchmark: release operator, 500 KafkaClusters (KRAFTWERK_BENCH_CLUSTERS) on a kwok cluster of its own
	@tests/bench/scale.sh

# --- for users with Docker; not run on the project's machines ---------------------------
kind-up: ## create a kind cluster with 3 zone-labelled workers
	$(KIND) create cluster --name $(KIND_CLUSTER) --config tests/kind/kind-config.yaml

kind-deploy: ## build the operator image, load it into kind, install CRD + operator + minimal example
	docker build -f Containerfile -t $(IMAGE) .
	$(KIND) load docker-image $(IMAGE) --name $(KIND_CLUSTER)
	kubectl apply --server-side -f crds/
	kubectl apply -f deploy/
	kubectl -n kraftwerk-system rollout status deployment/kraftwerk --timeout=180s
	kubectl apply -f deploy/examples/minimal.yaml

kind-down: ## delete the kind cluster
	$(KIND) delete cluster --name $(KIND_CLUSTER)
