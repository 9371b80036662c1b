# drover — thin wrapper over CMake, the local cluster script and ctest.
#
#   make demo    install what is missing, build, start a local cluster, run
#                examples/hello, show the result (the cluster stays up)
#   make test    install what is missing, build, run every test
#                (SANITIZE=1: in build-asan with AddressSanitizer + UBSan)
#
# Works as root or as an ordinary user (then 'deps' prints the apt command
# to run and stops when a package is missing), with or without a terminal.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.PHONY: help deps build demo test bench clean

JOBS := $(shell nproc 2>/dev/null || echo 2)
PACKAGES := build-essential cmake pkg-config libzmq3-dev libprotobuf-c-dev \
            protobuf-c-compiler libpq-dev libconfig-dev libopenblas-dev \
            libcmocka-dev libjansson-dev postgresql jq

ifeq ($(SANITIZE),1)
TEST_DIR := build-asan
TEST_CMAKE_FLAGS := -DSANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
else
TEST_DIR := build
TEST_CMAKE_FLAGS :=
endif

CLUSTER := deploy/local/cluster.sh
DEMO_EP := tcp://127.0.0.1:$(or $(DROVER_CLIENT_PORT),7460)

help:
	@echo "drover make targets:"
	@echo "  make demo          deps + build + local cluster (PostgreSQL, coordinator, 2 workers),"
	@echo "                     runs examples/hello and leaves the cluster up"
	@echo "  make test          deps + build + all unit and integration tests (ctest)"
	@echo "  make test SANITIZE=1   the same in build-asan with ASan + UBSan"
	@echo "  make build         configure and build into build/ (programs in build/bin)"
	@echo "  make deps          apt-get install the missing Debian packages"
	@echo "  make bench         benchmarks"
	@echo "  make clean         remove build/ and build-asan/"
	@echo "Stop the demo cluster with: $(CLUSTER) down"

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

demo: deps
	@$(MAKE) --no-print-directory build
	DROVER_BIN=$(CURDIR)/$(BUILD_DIR)/bin $(CLUSTER) up
	DROVER_COORDINATOR=$(DEMO_EP) $(BUILD_DIR)/bin/drover submit --wait examples/hello/pipeline.cfg
	DROVER_COORDINATOR=$(DEMO_EP) $(BUILD_DIR)/bin/drover runs
	$(CLUSTER) psql -P pager=off -c 'select * from drover.run_status order by run_id desc limit 5'
	@echo
	@echo "The local cluster is up (state and logs in $${DROVER_STATE_DIR:-.state/local})."
	@echo "  export DROVER_COORDINATOR=$(DEMO_EP) PATH=$(CURDIR)/$(BUILD_DIR)/bin:\$$PATH"
	@echo "  drover submit --wait examples/hello/pipeline.cfg"
	@echo "  drover runs; drover status RUN; drover logs RUN STEP; drover workers"
	@echo "  $(CLUSTER) psql            # then: select * from drover.task_status;"
	@echo "  $(CLUSTER) status"
	@echo "Stop it with: $(CLUSTER) down"

test: deps
	@$(MAKE) --no-print-directory build BUILD_DIR=$(TEST_DIR) CMAKE_FLAGS="$(TEST_CMAKE_FLAGS)"
	ctest --test-dir $(TEST_DIR) --output-on-failure

bench:
	@echo "no benchmarks yet"

clean:
	rm -rf build build-asan
