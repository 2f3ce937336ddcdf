# Switchyard: the two commands of the quick start are `make demo` and `make test`.
SWIFT ?= swift
BIN := .build/debug/switchyard
DEV_DIR ?= .switchyard/dev

.PHONY: deps deps-demo deps-test build test lint format demo demo-down demo-airflow demo-airflow-down release deb bench clean install install-files

# What is missing, by purpose (scripts/install-deps.sh): building needs only C headers; the demo and the tests
# also need servers, which are installed without being started and never used as the distribution runs them.
# Nothing here starts, stops or disables a server that was on the host before.
deps:
	@scripts/install-deps.sh build

deps-demo:
	@scripts/install-deps.sh demo

deps-test:
	@scripts/install-deps.sh test

build: deps
	$(SWIFT) build

# Daemons ship as one static, non-PIE binary: the Swift runtime and Foundation linked in and no
# load-time relocation of their metadata, which keeps an idle scheduler node under 30 MB resident.
RELEASE_FLAGS := -c release -Xswiftc -static-stdlib -Xlinker -no-pie

release: deps
	$(SWIFT) build $(RELEASE_FLAGS)

# Production install (docs/production.md): the static release binary, the systemd units with their
# paths rewritten for PREFIX and SYSCONFDIR, and example secrets and drop-in files. DESTDIR stages
# the tree for a package. Creating the `switchyard` user and enabling units is the operator's step.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc/switchyard
UNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=

install: release
	$(MAKE) --no-print-directory install-files INSTALL_BIN=.build/release/switchyard

INSTALL_BIN ?= .build/release/switchyard
install-files:
	install -D -m 0755 $(INSTALL_BIN) $(DESTDIR)$(PREFIX)/bin/switchyard
	install -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)
	for unit in deploy/systemd/*.service; do \
		sed -e 's#/usr/local/bin/switchyard#$(PREFIX)/bin/switchyard#g' -e 's#/etc/switchyard#$(SYSCONFDIR)#g' \
			$$unit > $(DESTDIR)$(UNITDIR)/$$(basename $$unit) && chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$unit); \
	done
	for example in deploy/systemd/*.example; do \
		sed -e 's#/usr/local/bin/switchyard#$(PREFIX)/bin/switchyard#g' -e 's#/etc/switchyard#$(SYSCONFDIR)#g' \
			$$example > $(DESTDIR)$(SYSCONFDIR)/$$(basename $$example) && chmod 0644 $(DESTDIR)$(SYSCONFDIR)/$$(basename $$example); \
	done
	@echo "installed $(PREFIX)/bin/switchyard and units in $(UNITDIR); next: docs/production.md"

# The Debian package (docs/production.md installs from it): .build/switchyard_<version>_<arch>.deb with the static
# release binary, the units, the switchyard user (sysusers.d) and example configuration as conffiles. Installing
# it creates the user and starts, enables or stops nothing. `lintian` on it reports no error.
deb: release
	@scripts/build-deb.sh

# Benchmarks of the interface contract, on the release binary; figures go to BENCHMARKS.md.
bench: release
	.build/release/switchyard bench takeover --trials 100 --freeze-trials 10

# Style: swift-format (in the Swift toolchain) with the committed .swift-format; CI fails on any finding.
# `make format` rewrites the tree the same way.
SWIFT_FORMAT ?= swift-format
LINTED := Sources Tests Package.swift

lint:
	$(SWIFT_FORMAT) lint --strict --recursive $(LINTED)

format:
	$(SWIFT_FORMAT) format --in-place --recursive $(LINTED)

# Every test: pure, integration against real Postgres/Redis/HTTP servers the harness starts on loopback,
# and end-to-end through the switchyard binary. Servers left by a crashed run are cleaned up afterwards.
# An interrupted run (Ctrl-C, a CI timeout's SIGTERM) still stops every server and daemon it started.
# A real Apache Airflow 3.3.2 for the Airflow tests installs (once, into a cached virtualenv outside the
# clone) while the tests build, and so does schemathesis for the API contract tests; when either cannot,
# the tests that need it report skipped with the reason.
test: deps-test
	@scripts/install-airflow.sh & airflow=$$!; scripts/install-schemathesis.sh & fuzzer=$$!; \
	  scripts/install-patroni.sh & patroni=$$!; \
	  $(SWIFT) build --build-tests; status=$$?; wait $$airflow $$fuzzer $$patroni; exit $$status
	@trap 'scripts/cleanup-test-servers.sh' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	  $(SWIFT) test --skip-build

# The main job: a local three-region deployment on loopback with two scheduler nodes, two workers and an
# agent per region and a steady scheduled workload; then a drill that crashes the active region's
# database and reports detection, RTO, runs moved, lost and executed twice. The deployment stays up.
demo: deps-demo build
	$(BIN) dev up --regions 3 --daemons --dir $(DEV_DIR)
	@echo ""
	@echo "== drill: kill the active region's database (runbooks/drills/kill-active-database.yaml)"
	$(BIN) drill runbooks/drills/kill-active-database.yaml --dir $(DEV_DIR) --report $(DEV_DIR)/drill-report.md
	@echo ""
	$(BIN) dev status --dir $(DEV_DIR) | tail -n 1
	@echo "report: $(DEV_DIR)/drill-report.md; the deployment is still running."
	@echo "stop it with: $(BIN) dev down --dir $(DEV_DIR)   (or make demo-down)"

demo-down:
	$(BIN) dev down --dir $(DEV_DIR)

# The same for Apache Airflow 3 (installed into a cached virtualenv first): two regions running Airflow, then
# a drill that kills every scheduler host of the active one and reports its Airflow runs finished in the other.
AIRFLOW_DIR ?= .switchyard/airflow
EXECUTOR ?= local
AIRFLOW_DRILL ?= $(if $(filter celery,$(EXECUTOR)),airflow-kill-hosts,airflow-kill-schedulers)
# EXECUTOR=celery: the CeleryExecutor on each region's Redis, and the drill that kills every host of the
# active region but its database (the broker with tasks queued in it included).
demo-airflow: deps-demo build
	@scripts/install-airflow.sh
	$(BIN) dev up --regions 2 --airflow --executor $(EXECUTOR) --daemons --dir $(AIRFLOW_DIR)
	@echo ""
	@echo "== drill: $(AIRFLOW_DRILL) (runbooks/drills/$(AIRFLOW_DRILL).yaml)"
	$(BIN) drill runbooks/drills/$(AIRFLOW_DRILL).yaml --dir $(AIRFLOW_DIR) --report $(AIRFLOW_DIR)/drill-report.md
	@echo "report: $(AIRFLOW_DIR)/drill-report.md; the deployment is still running."
	@echo "stop it with: $(BIN) dev down --dir $(AIRFLOW_DIR)   (or make demo-airflow-down)"

demo-airflow-down:
	$(BIN) dev down --dir $(AIRFLOW_DIR)

clean:
	rm -rf .build
