# topic-migrator. `make demo` tries the tool on an embedded cluster; `make test`
# runs every test against a real Apache Kafka broker and against kfake.
GO       ?= go
BIN      := bin/migrator
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

.PHONY: build test test-fast demo fuzz vet bench bench-plan bench-bridge kafka-up kafka-down clean

build: ## build bin/migrator
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/migrator

test: ## all tests, against real Kafka (started here unless KAFKA_BOOTSTRAP_SERVERS is set) and kfake
	scripts/test.sh

test-fast: ## all tests against kfake only; real-Kafka subtests are skipped
	$(GO) test ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed on:"; gofmt -l .; exit 1; }

demo: build ## walk rename-map.yaml through every step on an embedded cluster (no Kafka needed); DEMO_FLAGS=--keep-running keeps it up
	$(BIN) demo $(DEMO_FLAGS)

fuzz: ## fuzz the rename-map loader for FUZZTIME (default 60s)
	$(GO) test ./plan/ -run '^$$' -fuzz FuzzParseRenameMap -fuzztime $${FUZZTIME:-60s}

bench: bench-plan bench-bridge ## every benchmark, against the real broker (started here if needed)

bench-bridge: build ## the bridge vs a raw librdkafka copy: 2M × 1 KiB backlog, then 10k records/s
	$(GO) build -o bin/bridgebench ./bench/bridgebench
	scripts/with-kafka.sh bin/bridgebench -migrator $(BIN) -records $${RECORDS:-2000000} -size $${SIZE:-1024}

bench-plan: ## plan over 1,000 topics: time and admin requests per plan
	scripts/with-kafka.sh $(GO) test ./plan/ -run '^$$' -bench Plan1000 -benchtime 10x

kafka-up: ## start the real broker on 127.0.0.1:9092
	scripts/kafka-up.sh

kafka-down:
	scripts/kafka-down.sh

clean:
	rm -rf bin
