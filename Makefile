# CDC pipeline: MySQL → Debezium → Kafka → Spark → Iceberg + PostgreSQL.   `make help` lists targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := mariadb-server mariadb-client postgresql postgresql-client openjdk-17-jdk-headless maven docker-compose jq
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup system-packages venv jars jars-lock up status down clean unit test submit stop compact compact-schedule compact-stop add-table remove-table resnapshot lake-sql verify bench-decode bench-source bench-drain bench-latency bench cluster-up cluster-down cluster-status chaos
MASTER ?= local[2]

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: system-packages venv jars ## install everything (Debian packages, venv, jars); safe to re-run

system-packages: ## apt-get install the servers and the JDK (root or sudo)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "Debian packages: all present"; fi

venv: $(VENV)/.installed ## create the venv and install requirements.txt (run time) and requirements-dev.txt (tests, benchmarks)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	@echo "pip: installing requirements-dev.txt into $(VENV) (pyspark is a ~320 MB download the first time)"
	$(PY) -m pip install --disable-pip-version-check -r requirements-dev.txt
	touch $@

jars: venv ## resolve the pinned jars from Maven Central (jars/pom.xml, checked against jars/maven.lock) and binaries, build our Java
	$(PY) -m stack jars

jars-lock: venv ## after a version change in jars/pom.xml: re-resolve and rewrite jars/maven.lock
	$(PY) -m stack jars --update-lock

up: jars ## start the local stack (MariaDB, PostgreSQL, SeaweedFS, Apache Kafka, Connect + Debezium)
	$(PY) -m stack up

status: ## show each service: port, PID, health; the connector and its task
	@$(PY) -m stack status

down: ## stop the stack's processes (graceful, then forced)
	$(PY) -m stack down

clean: ## stop the stack and delete its data (state directory)
	$(PY) -m stack clean

submit: up ## start the streaming job (spark-submit, MASTER=local[2]); prints its Spark UI address
	$(PY) -m stack submit --master '$(MASTER)'

stop: ## stop the streaming job after its current micro-batch
	$(PY) -m stack stop-job

cluster-up: venv ## start a Spark standalone master (:7077, UI :8080) and worker (UI :8081) from pyspark
	$(PY) -m stack cluster-up

cluster-down: ## stop the Spark standalone cluster (and the job, if it runs there)
	$(PY) -m stack cluster-down

cluster-status: ## the Spark standalone master and worker: PID, health, applications, executors
	@$(PY) -m stack cluster-status

compact: up ## Iceberg maintenance, one run: compact files, expire snapshots, remove orphans (prints a report)
	$(PY) -m stack compact --master '$(MASTER)'

compact-schedule: up ## Iceberg maintenance every maintenance.interval, in the background
	$(PY) -m stack compact --schedule --master '$(MASTER)'

compact-stop: ## stop the scheduled maintenance after its current step
	$(PY) -m stack compact-stop

add-table: ## capture a MySQL table live: make add-table TABLE=bankdb.loans [KEY=col,...] (backfill: incremental snapshot)
	@test -n "$(TABLE)" || { echo "usage: make add-table TABLE=<db>.<table> [KEY=<column,...>]" >&2; exit 2; }
	$(PY) -m stack add-table '$(TABLE)' $(if $(KEY),--key '$(KEY)')

remove-table: ## stop capturing a table: make remove-table TABLE=bankdb.loans (its sink tables stay)
	@test -n "$(TABLE)" || { echo "usage: make remove-table TABLE=<db>.<table>" >&2; exit 2; }
	$(PY) -m stack remove-table '$(TABLE)'

resnapshot: ## snapshot a captured table again, live (repairs): make resnapshot TABLE=bankdb.loans
	@test -n "$(TABLE)" || { echo "usage: make resnapshot TABLE=<db>.<table>" >&2; exit 2; }
	$(PY) -m stack resnapshot '$(TABLE)'

lake-sql: ## query Iceberg: make lake-sql Q="SELECT * FROM lake.cdc.bank_accounts_current"
	@$(PY) jobs/lake_sql.py "$(Q)"

verify: ## compare MySQL with both sinks (counts, per-key hashes) and the histories; exit 0 only if all match
	@$(PY) jobs/verify.py $(VERIFY_ARGS)

bench-source: up ## benchmark: Spark's kafka source vs a plain consumer on the Debezium topics (prints the ratio)
	$(PY) bench/kafka_source_throughput.py $(BENCH_ARGS)

bench-decode: venv ## benchmark: the JVM Debezium decoder vs the Python one on the same 200 000 events (no stack)
	$(PY) bench/decode_throughput.py $(BENCH_ARGS)

bench-drain: up ## benchmark: the job drains a 2 x 210k-event backlog; vs Debezium, raw Kafka/COPY/Iceberg, seed-000 (PNG in bench/out)
	$(PY) bench/backlog_drain.py $(BENCH_ARGS)

bench-latency: up ## benchmark: MySQL commit -> PostgreSQL / Iceberg current latency at 50, 250, 1000 and 5000 changes/s, whole transactions on and off (PNG in bench/out)
	$(PY) bench/end_to_end_latency.py $(BENCH_ARGS)

bench: bench-decode bench-source bench-drain bench-latency ## run every benchmark (stop the job first: make stop)

chaos: up ## chaos test alone (make test runs it with 12 kills; CHAOS_KILLS=30 for more): kills job, each path, Connect, broker, PostgreSQL, S3
	CDC_CHAOS_KILLS=$(or $(CHAOS_KILLS),12) $(PY) -m pytest -m chaos tests/chaos -s

unit: jars ## the unit tests alone: pure logic and a local Spark, no stack (about a minute)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test: up ## run the test suite against the running local stack
	$(PY) -m pytest $(PYTEST_ARGS)
