#!/usr/bin/env bash
# Runs the whole test suite against a real Apache Kafka broker, a second real broker that
# speaks only SASL_SSL with ACLs enforced (scripts/kafka-up-secure.sh), and kfake.
# Starts each broker unless it is already named (KAFKA_BOOTSTRAP_SERVERS; KAFKA_SECURE_BOOTSTRAP
# and KAFKA_SECURE_DIR), and stops what it started. The secure broker listens on
# KAFKA_SECURE_PORT (default 9192, controller +1) with its state in KAFKA_SECURE_STATE_DIR
# (default .kafka-secure).
# The three-node tests (TestCluster3* in kafkatest, TestThreeNode* in cmd/migrator: nodes killed,
# bounced and paused under the bridge) run beside the others, on a three-node cluster started for
# them only (scripts/kafka-up.sh --nodes 3; clients on KAFKA_CLUSTER3_PORT,
# default 19092..19094, controllers on the next three ports; state in KAFKA_CLUSTER3_STATE_DIR,
# default .kafka/cluster3), unless KAFKA_CLUSTER3_BOOTSTRAP and KAFKA_CLUSTER3_DIR name one.
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
# The three-node tests run on a cluster of their own, at the same time as the rest: they spend
# most of their time waiting on Kafka's own timeouts (a killed node's session, a bounce), not on
# the CPU, so running them beside the others saves most of their 8 minutes. Their output is kept
# in a file and printed once they end.
three_node='^(TestCluster3|TestThreeNode)'
if [[ -z ${KAFKA_CLUSTER3_BOOTSTRAP:-} ]]; then
  cluster3_state=${KAFKA_CLUSTER3_STATE_DIR:-$PWD/.kafka/cluster3}
  trap 'KAFKA_STATE_DIR="$cluster3_state" scripts/kafka-down.sh' EXIT
  lines=$(KAFKA_STATE_DIR=$cluster3_state KAFKA_PORT=${KAFKA_CLUSTER3_PORT:-19092} scripts/kafka-up.sh --nodes 3)
  while read -r line; do
    case $line in
      KAFKA_CLUSTER3_DIR=* | KAFKA_CLUSTER3_BOOTSTRAP=*) export "${line?}" ;;
    esac
  done <<<"$lines"
  [[ -n ${KAFKA_CLUSTER3_BOOTSTRAP:-} && -n ${KAFKA_CLUSTER3_DIR:-} ]] || { echo "test.sh: kafka-up.sh --nodes 3 printed no address" >&2; exit 1; }
fi
echo "test.sh: three-node Kafka at $KAFKA_CLUSTER3_BOOTSTRAP (its tests run beside the others)" >&2
three_log=$(mktemp -t three-node-tests.XXXXXX)
KAFKA_REQUIRE_REAL=1 go test -p 1 -count=1 -timeout 30m -run "$three_node" "$@" ./kafkatest ./cmd/migrator >"$three_log" 2>&1 &
three_pid=$!

# -p 1: packages share the real brokers, which each test resets.
status=0
KAFKA_REQUIRE_REAL=1 go test -p 1 -count=1 -timeout 30m -skip "$three_node" "$@" ./... || status=$?

three_status=0
wait "$three_pid" || three_status=$?
echo "test.sh: the three-node tests (run beside the others):" >&2
cat "$three_log"
rm -f "$three_log"
if ((three_status != 0)); then
  echo "test.sh: the three-node tests failed" >&2
  status=1
fi
exit "$status"
