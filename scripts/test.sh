#!/usr/bin/env bash
# Runs the whole test suite against a real Apache Kafka broker, a second real broker that
# speaks only SASL_SSL with ACLs enforced (scripts/kafka-up-secure.sh), and kfake.
# Starts each broker unless it is already named (KAFKA_BOOTSTRAP_SERVERS; KAFKA_SECURE_BOOTSTRAP
# and KAFKA_SECURE_DIR), and stops what it started. The secure broker listens on
# KAFKA_SECURE_PORT (default 9192, controller +1) with its state in KAFKA_SECURE_STATE_DIR
# (default .kafka-secure).
# The packages other than cmd/migrator run beside it on a second real broker, and the three-node
# tests (TestCluster3* in kafkatest, TestThreeNode* in cmd/migrator: nodes killed, bounced and
# paused under the bridge) on a three-node cluster started for them only (scripts/kafka-up.sh
# --nodes 3; clients on KAFKA_CLUSTER3_PORT,
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
# Three lanes run at the same time, each on brokers of its own (most tests wait on Kafka's
# timeouts and sessions rather than on the CPU, so this saves more than half the wall time):
#   1. cmd/migrator, the longest package, on the real broker and the SASL_SSL broker;
#   2. every other package, on a second real broker (KAFKA_LANE2_PORT, default 9096; state in
#      KAFKA_LANE2_STATE_DIR, default .kafka/lane2), unless KAFKA_LANE2_BOOTSTRAP names one;
#   3. the three-node tests, on the three-node cluster.
# Within a lane packages run one at a time (-p 1): they share its brokers, which each test
# resets. Lanes 2 and 3 write to files, printed once they end.
three_node='^(TestCluster3|TestThreeNode)'
started=()
stop_started() {
  local dir
  for dir in "${started[@]}"; do KAFKA_STATE_DIR="$dir" scripts/kafka-down.sh || true; done
}
trap stop_started EXIT
if [[ -z ${KAFKA_CLUSTER3_BOOTSTRAP:-} && ${THREE_NODE:-1} != 0 ]]; then
  cluster3_state=${KAFKA_CLUSTER3_STATE_DIR:-$PWD/.kafka/cluster3}
  started+=("$cluster3_state")
  lines=$(KAFKA_STATE_DIR=$cluster3_state KAFKA_PORT=${KAFKA_CLUSTER3_PORT:-19092} scripts/kafka-up.sh --nodes 3)
  while read -r line; do
    case $line in
      KAFKA_CLUSTER3_DIR=* | KAFKA_CLUSTER3_BOOTSTRAP=*) export "${line?}" ;;
    esac
  done <<<"$lines"
  [[ -n ${KAFKA_CLUSTER3_BOOTSTRAP:-} && -n ${KAFKA_CLUSTER3_DIR:-} ]] || { echo "test.sh: kafka-up.sh --nodes 3 printed no address" >&2; exit 1; }
fi
if [[ -z ${KAFKA_LANE2_BOOTSTRAP:-} ]]; then
  lane2_state=${KAFKA_LANE2_STATE_DIR:-$PWD/.kafka/lane2}
  lane2_port=${KAFKA_LANE2_PORT:-9096}
  started+=("$lane2_state")
  line=$(KAFKA_STATE_DIR=$lane2_state KAFKA_PORT=$lane2_port KAFKA_CONTROLLER_PORT=$((lane2_port + 1)) scripts/kafka-up.sh | tail -n 1)
  KAFKA_LANE2_BOOTSTRAP=${line#KAFKA_BOOTSTRAP_SERVERS=}
fi
echo "test.sh: lane 2 (every package but cmd/migrator) on real Kafka at $KAFKA_LANE2_BOOTSTRAP; lane 3 (three-node tests) on ${KAFKA_CLUSTER3_BOOTSTRAP:-none}" >&2

lane2_log=$(mktemp -t lane2-tests.XXXXXX)
others=$(go list ./... | grep -v '/cmd/migrator$')
# shellcheck disable=SC2086 # one word per package
KAFKA_BOOTSTRAP_SERVERS=$KAFKA_LANE2_BOOTSTRAP KAFKA_REQUIRE_REAL=1 \
  go test -p 1 -count=1 -timeout 30m -skip "$three_node" "$@" $others >"$lane2_log" 2>&1 &
lane2_pid=$!
three_log=$(mktemp -t three-node-tests.XXXXXX)
if [[ ${THREE_NODE:-1} == 0 ]]; then
  # For a quick local run only (THREE_NODE=0); CI always runs lane 3.
  echo "test.sh: THREE_NODE=0: the three-node tests are not run" | tee "$three_log" >&2
  true &
else
  # -run last: lane 3 runs only the three-node tests, whatever -run was given.
  KAFKA_REQUIRE_REAL=1 go test -p 1 -count=1 -timeout 30m "$@" -run "$three_node" ./kafkatest ./cmd/migrator >"$three_log" 2>&1 &
fi
three_pid=$!

status=0
KAFKA_REQUIRE_REAL=1 go test -p 1 -count=1 -timeout 30m -skip "$three_node" "$@" ./cmd/migrator || status=$?

lane2_status=0
wait "$lane2_pid" || lane2_status=$?
echo "test.sh: lane 2, every package but cmd/migrator:" >&2
cat "$lane2_log"
three_status=0
wait "$three_pid" || three_status=$?
echo "test.sh: lane 3, the three-node tests:" >&2
cat "$three_log"
rm -f "$lane2_log" "$three_log"
if ((lane2_status != 0)); then
  echo "test.sh: lane 2 failed" >&2
  status=1
fi
if ((three_status != 0)); then
  echo "test.sh: the three-node tests failed" >&2
  status=1
fi
exit "$status"
