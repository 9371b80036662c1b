# drover — thin wrapper over CMake, the local cluster script and ctest.
#
#   make demo    install what is missing, build, start a local cluster, run
#                examples/claims (generating its data first), show the model
#                registry, then the whole loop (examples/claims/loop.sh:
#                serve, correct, retrain, gate, approve, hot swap); the
#                cluster stays up
#   make test    install what is missing, build, run every test
#                (SANITIZE=1: in build-asan with AddressSanitizer + UBSan)
#
# Works as root or as an ordinary user (then 'deps' prints the apt command
# to run and stops when a package is missing), with or without a terminal.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.PHONY: help deps build demo claims-data test bench clean package chaos format

JOBS := $(shell nproc 2>/dev/null || echo 2)
PACKAGES := build-essential cmake pkg-config libzmq3-dev libprotobuf-c-dev \
            protobuf-c-compiler libpq-dev libconfig-dev libopenblas-dev \
            libcmocka-dev libjansson-dev postgresql jq tzdata clang libclang-rt-14-dev \
            lintian python3 libmicrohttpd-dev prometheus slurm-wlm munge \
            libcurl4-openssl-dev python3-zmq python3-protobuf protobuf-compiler clang-format \
            python3-sklearn python3-numpy curl libopenmpi-dev openmpi-bin python3-torch \
            chromium nodejs

ifeq ($(SANITIZE),1)
TEST_DIR := build-asan
TEST_CMAKE_FLAGS := -DSANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
# Tests whose time goes to Chromium or PyTorch rather than our C (label
# nosan) run in the plain pass only: drover-web's C is exercised under the
# sanitizers by integration.web_api, the gang's by integration.dp_gang.
# integration.package (label nosan too) installs the build users get.
TEST_CTEST_FLAGS := -LE nosan
else
TEST_DIR := build
TEST_CMAKE_FLAGS :=
TEST_CTEST_FLAGS :=
endif

CLUSTER := deploy/local/cluster.sh
DEMO_EP := tcp://127.0.0.1:$(or $(DROVER_CLIENT_PORT),7460)
# The local cluster's config (written by cluster.sh up) names its CurveZMQ
# admin key, so drover finds the keys through DROVER_CONFIG.
DEMO_CFG := $(or $(DROVER_STATE_DIR),$(CURDIR)/.state/local)/drover.cfg
DEMO_ENV := DROVER_CONFIG=$(DEMO_CFG) DROVER_COORDINATOR=$(DEMO_EP)

help:
	@echo "drover make targets:"
	@echo "  make demo          deps + build + local cluster (PostgreSQL, coordinator, 2 workers),"
	@echo "                     runs examples/claims (validate, train, evaluate, promote), then the"
	@echo "                     whole loop (examples/claims/loop.sh: serve, correct, retrain, approve) and"
	@echo "                     leaves the cluster up; examples/hello is the quick smoke test"
	@echo "  make test          deps + build + all unit and integration tests (ctest)"
	@echo "  make test SANITIZE=1   the same in build-asan with ASan + UBSan"
	@echo "  make build         configure and build into build/ (programs in build/bin)"
	@echo "  make deps          apt-get install the missing Debian packages"
	@echo "  make package       Debian packages drover, drover-coordinator, drover-worker (build/*.deb)"
	@echo "  make bench         benchmarks W1-W4, S1, S2 on a private cluster (BENCH_QUICK=1: smaller)"
	@echo "  make clean         remove build/ and build-asan/"
	@echo "  make format        clang-format every tracked .c/.h file (make test checks it: style.format)"
	@echo "Stop the demo cluster with: $(CLUSTER) down"
	@echo "  make fuzz          libFuzzer harnesses of every trust boundary (FUZZ_SECONDS each, default 60)"
	@echo "  make fuzz-ci       the same, 10 s each (what CI runs)"
	@echo "  make chaos         the chaos suite: kill -9, SIGSTOP, PostgreSQL restarts, partitions while"
	@echo "                     random DAGs run, then a verifier (CHAOS_MINUTES=N, default 1; CHAOS_SEED=S;"
	@echo "                     CHAOS_NETNS=0 keeps everything on loopback, without partitions)"

deps:
	@missing=""; \
	for p in $(PACKAGES); do \
	  st=$$(dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null || true); \
	  [ "$$st" = "install ok installed" ] || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	echo "deps: missing:$$missing"; \
	if [ "$$(id -u)" -ne 0 ]; then \
	  echo "deps: not root; run this, then make again:"; \
	  echo "  sudo sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y$$missing'"; \
	  exit 1; \
	fi; \
	apt-get update; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing

# The build itself; BUILD_DIR and CMAKE_FLAGS let 'test' reuse it for ASan.
BUILD_DIR ?= build
CMAKE_FLAGS ?=
build:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR) -j$(JOBS)

# The claims example's data: generated once (deterministic, seed 7) into
# examples/claims/data/ (gitignored). drover-gen-claims comes from the CMake
# build; a tree whose CMakeLists does not build it yet compiles it directly.
CLAIMS_DATA := examples/claims/data
CLAIMS_GEN := $(BUILD_DIR)/bin/drover-gen-claims
claims-data:
	@if [ -f $(CLAIMS_DATA)/train.csv ] && [ -f $(CLAIMS_DATA)/test.csv ] && \
	    [ -f $(CLAIMS_DATA)/train-002.csv ] && [ -f $(CLAIMS_DATA)/feedback/batch-001.csv ]; then \
	  echo "claims data present in $(CLAIMS_DATA)"; \
	else \
	  if [ ! -x $(CLAIMS_GEN) ]; then \
	    mkdir -p $(BUILD_DIR)/bin && cc -std=gnu11 -O2 -o $(CLAIMS_GEN) examples/claims/gen_claims.c -lm; \
	  fi; \
	  $(CLAIMS_GEN) --seed 7 --out $(CLAIMS_DATA); \
	fi

# The demo: the claims pipeline (validate -> train -> evaluate -> promote),
# then the model registry as the CLI and as SQL show it. examples/hello is the
# quick smoke test: drover submit --wait examples/hello/pipeline.cfg
demo: deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory claims-data
	DROVER_BIN=$(CURDIR)/$(BUILD_DIR)/bin $(CLUSTER) up
	@# The registry is shown even when the run fails (a failed gate is the
	@# pipeline doing its job); make still exits with the run's status.
	rc=0; $(DEMO_ENV) $(BUILD_DIR)/bin/drover submit --wait examples/claims/pipeline.cfg || rc=$$?; \
	$(DEMO_ENV) $(BUILD_DIR)/bin/drover models claims-damage; \
	$(CLUSTER) psql -P pager=off -c "select name, version, stage, round((metrics->>'val_accuracy')::numeric, 4) as val_accuracy from drover.model_registry order by name, version"; \
	if [ $$rc -ne 0 ]; then \
	  echo "The claims run did not succeed; see why with: drover status RUN, drover report RUN evaluate"; \
	  exit $$rc; \
	fi
	@echo
	@echo "== The whole loop (examples/claims/loop.sh): serve, correct, retrain, gate, approve, hot swap"
	$(DEMO_ENV) DROVER_BIN=$(CURDIR)/$(BUILD_DIR)/bin examples/claims/loop.sh
	@echo
	@echo "The local cluster is up (state and logs in $${DROVER_STATE_DIR:-.state/local})."
	@echo "  export DROVER_CONFIG=$(DEMO_CFG) PATH=$(CURDIR)/$(BUILD_DIR)/bin:\$$PATH"
	@echo "  drover runs --workflow claims            # the claims run (loop.sh's runs are newer)"
	@echo "  drover report RUN validate; drover metrics RUN train; drover report RUN evaluate"
	@echo "  drover model show claims-damage:1; drover promote claims-damage:1 staging --reason test"
	@echo "  drover submit --wait examples/claims/retrain.cfg   # the next turn of the loop"
	@echo "  LOOP_APPROVE=ask examples/claims/loop.sh  # the whole loop again, stopping at the approval"
	@echo "  drover submit --wait examples/hello/pipeline.cfg   # quick smoke test (exec steps only)"
	@echo "  drover runs; drover status RUN; drover logs RUN STEP; drover workers"
	@echo "  $(CLUSTER) psql            # then: select * from drover.task_status;"
	@echo "  drover keys list                         # the CurveZMQ keys allowed in (docs/operations.md)"
	@echo "  $(CLUSTER) status"
	@echo "Stop it with: $(CLUSTER) down"

test: deps
	@$(MAKE) --no-print-directory build BUILD_DIR=$(TEST_DIR) CMAKE_FLAGS="$(TEST_CMAKE_FLAGS)"
	ctest --test-dir $(TEST_DIR) --output-on-failure $(TEST_CTEST_FLAGS)

# Debian packages (CPack; deploy/package.cmake, docs/operations.md).
package: deps build
	cd $(BUILD_DIR) && cpack -G DEB

# Benchmarks against a private cluster (bench/run.sh; docs/benchmarks.md).
# BENCH_QUICK=1 for smaller sizes; bench/compare.sh runs the peers too.
bench: deps
	@$(MAKE) --no-print-directory build
	DROVER_BIN=$(CURDIR)/$(BUILD_DIR)/bin bench/run.sh

clean:
	rm -rf build build-asan

# One C style (.clang-format), applied to every tracked .c/.h file; the
# style.format test in make test fails on any file that differs.
format:
	git ls-files '*.c' '*.h' | xargs clang-format -i --style=file

# The chaos suite (tests/chaos/chaos.sh, docs/reliability.md): a cluster on
# this machine is hurt at random for CHAOS_MINUTES (default 1) while random
# DAGs run; the verifier checks 0 lost, 0 re-run after success, dependency
# order, every run terminal, no orphans, memory hogs reported as killed for
# memory. As root the workers run on hosts of their own (network namespaces,
# tests/netns) and partitions join the hurts; CHAOS_NETNS=0 keeps loopback.
# CHAOS_OUT=FILE keeps the figures.
CHAOS_MINUTES ?= 1
chaos: deps
	@$(MAKE) --no-print-directory build
	DROVER_BIN=$(CURDIR)/$(BUILD_DIR)/bin CHAOS_MINUTES=$(CHAOS_MINUTES) bash tests/chaos/chaos.sh

# Fuzzing (docs/fuzzing.md): the libFuzzer harnesses of tests/fuzz, built
# with clang into build-fuzz, each run FUZZ_SECONDS (default 60) over a
# scratch copy of its seed corpus, two at a time; crash inputs are kept in
# build-fuzz/fuzz-artifacts/. fuzz-ci: 10 s each (about 40 s of fuzzing).
.PHONY: fuzz fuzz-ci
FUZZ_SECONDS ?= 60
FUZZ_DIR := build-fuzz
fuzz: deps
	@command -v clang >/dev/null || { echo "fuzz: needs clang: apt-get install clang"; exit 1; }
	CC=clang cmake -S . -B $(FUZZ_DIR) -DDROVER_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(FUZZ_DIR) --target fuzz_all -j$(JOBS)
	FUZZ_JOBS=$${FUZZ_JOBS:-2} tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10
