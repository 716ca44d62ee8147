# topic-migrator. `make demo` tries the tool on an embedded cluster; `make test`
# runs every test against a real Apache Kafka broker and against kfake.
GO       ?= go
BIN      := bin/migrator
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
RELEASE  := dist/migrator-linux-amd64

.PHONY: build test test-faults test-fast demo fuzz vet bench bench-plan bench-bridge bench-mm2 bench-sizes bench-swap bench-hop kafka-up kafka-down kafka-up-secure kafka-down-secure clean
.PHONY: test-faults3 chaos kafka-up3 kafka-down3

build: ## build bin/migrator
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/migrator

.PHONY: release catalog docs

# Everything but glibc is linked in: librdkafka with OpenSSL, SASL, zstd, lz4
# (bundled by confluent-kafka-go). A fully static glibc build
# (-linkmode external -extldflags -static) links, but warns that librdkafka's
# getaddrinfo and OpenSSL's dlopen need the build machine's glibc at run time,
# so broker name resolution could break on another system: the release links
# libc, libm and ld-linux dynamically instead (see docs/release.md).
release: ## Linux amd64 binary and its sha256 in dist/, with version, commit and date
	@mkdir -p dist
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $(RELEASE) ./cmd/migrator
	cd dist && sha256sum $(notdir $(RELEASE)) > $(notdir $(RELEASE)).sha256
	@file $(RELEASE)
	@ldd $(RELEASE) || true
	@$(RELEASE) -o json version | tee /dev/stderr | grep -q '"commit": "$(COMMIT)"' \
		|| { echo "release: migrator version does not show commit $(COMMIT)"; exit 1; }

catalog: ## regenerate docs/event-catalog.md from rename-map.yaml (no cluster: retention left out)
	env -u MIGRATOR_BOOTSTRAP_SERVERS $(GO) run ./cmd/migrator --map rename-map.yaml catalog --out docs/event-catalog.md

docs: ## regenerate docs/reference.md's generated part (commands, flags, env vars) from the command definitions
	MIGRATOR_WRITE_DOCS=1 $(GO) test -count=1 -run '^TestReferenceUpToDate$$' ./cmd/migrator/

test: ## all tests, against real Kafka, a SASL_SSL real Kafka (both started here unless set) and kfake
	scripts/test.sh

test-faults: ## the fault suite alone (also part of make test): SIGKILLs, a broker restart, odd records, state-file and lock errors
	scripts/with-kafka.sh env KAFKA_REQUIRE_REAL=1 $(GO) test -count=1 -timeout 20m ./cmd/migrator/ -run 'TestFault' -v

# WITH_CLUSTER3 runs the command after it with KAFKA_CLUSTER3_BOOTSTRAP and KAFKA_CLUSTER3_DIR
# naming a three-node cluster: the one already named, or one started here with
# scripts/kafka-up.sh --nodes 3 (clients on CLUSTER3_PORT..+2, controllers on the next three
# ports, state in CLUSTER3_DIR) and stopped when the command ends.
CLUSTER3_PORT ?= 19092
CLUSTER3_DIR  ?= $(CURDIR)/.kafka/cluster3
WITH_CLUSTER3 = set -e; if [ -z "$$KAFKA_CLUSTER3_BOOTSTRAP" ]; then \
	  trap 'KAFKA_STATE_DIR="$(CLUSTER3_DIR)" scripts/kafka-down.sh' EXIT; \
	  for l in $$(KAFKA_STATE_DIR="$(CLUSTER3_DIR)" KAFKA_PORT=$(CLUSTER3_PORT) scripts/kafka-up.sh --nodes 3); do export "$$l"; done; \
	fi; KAFKA_REQUIRE_REAL=1
# How often each three-node test runs in make test-faults3 (e.g. COUNT=3).
COUNT    ?= 1
DURATION ?= 10m

test-faults3: ## the three-node fault suite alone (also part of make test): a node killed or bounced under the bridge (partition leader, transaction and group coordinator), a zombie bridge fenced; COUNT=3 repeats each
	$(WITH_CLUSTER3) $(GO) test -p 1 -count=$(COUNT) -timeout 90m ./kafkatest/ ./cmd/migrator/ -run '^(TestCluster3|TestThreeNode)' -v

chaos: ## random faults of every three-node kind, one after the other, for DURATION (default 10m), then the exactly-once check; stops by itself
	$(WITH_CLUSTER3) CHAOS_DURATION=$(DURATION) $(GO) test -count=1 -timeout 24h ./cmd/migrator/ -run '^TestThreeNodeChaos$$' -v

kafka-up3: ## start a three-node cluster (RF 3, min ISR 2) on 127.0.0.1:19092-19094 (CLUSTER3_PORT), state in .kafka/cluster3
	KAFKA_STATE_DIR="$(CLUSTER3_DIR)" KAFKA_PORT=$(CLUSTER3_PORT) scripts/kafka-up.sh --nodes 3

kafka-down3:
	KAFKA_STATE_DIR="$(CLUSTER3_DIR)" scripts/kafka-down.sh

test-fast: ## all tests against kfake only; real-Kafka subtests are skipped (a broker named in the environment is never used)
	env -u KAFKA_BOOTSTRAP_SERVERS -u KAFKA_SECURE_BOOTSTRAP -u KAFKA_SECURE_DIR -u KAFKA_REQUIRE_REAL $(GO) test ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed on:"; gofmt -l .; exit 1; }

demo: build ## walk rename-map.yaml through every step on an embedded cluster (no Kafka needed); DEMO_FLAGS=--keep-running keeps it up
	$(BIN) demo $(DEMO_FLAGS)

fuzz: ## fuzz the rename-map loader for FUZZTIME (default 60s)
	$(GO) test ./plan/ -run '^$$' -fuzz FuzzParseRenameMap -fuzztime $${FUZZTIME:-60s}

bench: bench-plan bench-bridge bench-mm2 bench-swap bench-hop ## every benchmark, against the real broker (started here if needed)

bench-bridge: build ## the bridge vs a raw librdkafka copy: 2M × 1 KiB backlog, then 10k records/s
	$(GO) build -o bin/bridgebench ./bench/bridgebench
	scripts/with-kafka.sh bin/bridgebench -migrator $(BIN) -only raw,alo,eos -records $${RECORDS:-2000000} -size $${SIZE:-1024}

bench-mm2: build ## raw copy, migrator and MirrorMaker 2 (scripts/mm2.sh), ALO and EOS, on one 2M × 1 KiB backlog; then offset translation
	$(GO) build -o bin/bridgebench ./bench/bridgebench
	scripts/mm2.sh --fetch-only >/dev/null
	scripts/with-kafka.sh bin/bridgebench -migrator $(BIN) -mm2 scripts/mm2.sh -only raw,alo,eos,mm2-alo,mm2-eos \
		-records $${RECORDS:-2000000} -size $${SIZE:-1024} -accuracy

# Issue 16's measurement: one backlog, raw baseline and table per record size (about 2 GB each,
# 200,000..5,000,000 records; RECORDS=N or RECORDS=100=N,1024=N,... or BYTES=B to change), every copy
# read back whole before its rate counts, the targets met or not met. PIN=1: broker on CPU 0 (the
# pid in $$KAFKA_STATE_DIR/kafka.pid, default .kafka), each contender on CPU 1. PROFILE=DIR: the
# migrator's CPU profiles, shown with go tool pprof -top. BENCH_ARGS: more bridgebench flags.
bench-sizes: build ## issue 16: raw copy, migrator and MM2 (ALO, EOS) at 100 B, 1 KiB, 10 KiB (SIZES, RECORDS, BYTES, PIN=1, PROFILE=dir)
	$(GO) build -o bin/bridgebench ./bench/bridgebench
	scripts/mm2.sh --fetch-only >/dev/null
	scripts/with-kafka.sh bin/bridgebench -migrator $(BIN) -mm2 scripts/mm2.sh -only raw,alo,eos,mm2-alo,mm2-eos \
		-sizes $${SIZES:-100,1024,10240} $${RECORDS:+-records $$RECORDS} $${BYTES:+-bytes $$BYTES} \
		$(if $(filter 1 yes true,$(PIN)),-pin) $${PROFILE:+-profile $$PROFILE} $${BENCH_ARGS:-}

bench-swap: ## the stop of `cutover swap` for a 1 GiB topic (BYTES to change), against plan's forecast
	$(GO) build -o bin/swapbench ./bench/swapbench
	scripts/with-kafka.sh bin/swapbench -bytes $${BYTES:-1073741824}

bench-hop: ## a hop rename of a 256 MiB topic (BYTES to change): every step of both hops, the two client moves, no stop
	$(GO) build -o bin/hopbench ./bench/hopbench
	scripts/with-kafka.sh bin/hopbench -bytes $${BYTES:-268435456}

bench-plan: ## plan over 1,000 topics: time and admin requests per plan
	scripts/with-kafka.sh $(GO) test ./plan/ -run '^$$' -bench Plan1000 -benchtime 10x

kafka-up: ## start the real broker on 127.0.0.1:9092
	scripts/kafka-up.sh

kafka-down:
	scripts/kafka-down.sh

kafka-up-secure: ## start the SASL_SSL broker (SCRAM, TLS, ACLs) on 127.0.0.1:9192; client properties in .kafka-secure/secure
	scripts/kafka-up-secure.sh

kafka-down-secure:
	scripts/kafka-down-secure.sh

clean:
	rm -rf bin dist
