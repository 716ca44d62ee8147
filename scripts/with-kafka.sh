#!/usr/bin/env bash
# Runs a command with KAFKA_BOOTSTRAP_SERVERS pointing at a real broker:
# the one already set, or one started here (and stopped afterwards).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -z ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
  line=$(scripts/kafka-up.sh | tail -n 1)
  export "${line?}"
  trap 'scripts/kafka-down.sh' EXIT
fi
echo "with-kafka: real Kafka at $KAFKA_BOOTSTRAP_SERVERS" >&2
"$@"
