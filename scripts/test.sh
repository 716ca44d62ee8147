#!/usr/bin/env bash
# Runs the whole test suite against a real Apache Kafka broker, a second real broker that
# speaks only SASL_SSL with ACLs enforced (scripts/kafka-up-secure.sh), and kfake.
# Starts each broker unless it is already named (KAFKA_BOOTSTRAP_SERVERS; KAFKA_SECURE_BOOTSTRAP
# and KAFKA_SECURE_DIR), and stops what it started. The secure broker listens on
# KAFKA_SECURE_PORT (default 9192, controller +1) with its state in KAFKA_SECURE_STATE_DIR
# (default .kafka-secure).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -z ${KAFKA_SECURE_BOOTSTRAP:-} ]]; then
  secure_state=${KAFKA_SECURE_STATE_DIR:-$PWD/.kafka-secure}
  secure_port=${KAFKA_SECURE_PORT:-9192}
  trap 'KAFKA_STATE_DIR="$secure_state" scripts/kafka-down.sh' EXIT
  lines=$(KAFKA_STATE_DIR=$secure_state KAFKA_PORT=$secure_port KAFKA_CONTROLLER_PORT=$((secure_port + 1)) \
    scripts/kafka-up-secure.sh)
  while read -r line; do
    case $line in
      KAFKA_SECURE_DIR=* | KAFKA_SECURE_BOOTSTRAP=*) export "${line?}" ;;
    esac
  done <<<"$lines"
  [[ -n ${KAFKA_SECURE_BOOTSTRAP:-} && -n ${KAFKA_SECURE_DIR:-} ]] || { echo "test.sh: kafka-up-secure.sh printed no address" >&2; exit 1; }
fi
if [[ -z ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
  scripts/with-kafka.sh "$PWD/scripts/test.sh" "$@"
  exit
fi
echo "test.sh: real Kafka at $KAFKA_BOOTSTRAP_SERVERS, SASL_SSL Kafka at $KAFKA_SECURE_BOOTSTRAP" >&2

go vet ./...
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
  echo "test.sh: gofmt needed on: $unformatted" >&2
  exit 1
fi
# -p 1: packages share the real brokers, which each test resets.
KAFKA_REQUIRE_REAL=1 go test -p 1 -count=1 -timeout 30m "$@" ./...
