# Switchyard: the two commands of the quick start are `make demo` and `make test`.
SWIFT ?= swift
BIN := .build/debug/switchyard
DEV_DIR ?= .switchyard/dev

.PHONY: deps build test demo demo-down release bench clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Every test: pure, integration against real Postgres/Redis/HTTP servers the harness starts on loopback,
# and end-to-end through the switchyard binary. Servers left by a crashed run are cleaned up afterwards.
test: deps
	$(SWIFT) build --build-tests
	@status=0; $(SWIFT) test --skip-build || status=$$?; scripts/cleanup-test-servers.sh; exit $$status

# The main job: a local three-region deployment on loopback, then each region's status.
demo: build
	$(BIN) dev up --regions 3 --dir $(DEV_DIR)
	$(BIN) dev status --dir $(DEV_DIR)

demo-down:
	$(BIN) dev down --dir $(DEV_DIR)

clean:
	rm -rf .build
