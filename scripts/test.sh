#!/usr/bin/env bash
# Runs the whole test suite against a real Apache Kafka broker and kfake.
# Starts the broker with scripts/kafka-up.sh unless KAFKA_BOOTSTRAP_SERVERS
# is already set, and stops what it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -z ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
  exec scripts/with-kafka.sh "$PWD/scripts/test.sh" "$@"
fi
echo "test.sh: real Kafka at $KAFKA_BOOTSTRAP_SERVERS" >&2

go vet ./...
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
  echo "test.sh: gofmt needed on: $unformatted" >&2
  exit 1
fi
# -p 1: packages share the one real broker, which each test resets.
KAFKA_REQUIRE_REAL=1 go test -p 1 -count=1 -timeout 30m "$@" ./...
