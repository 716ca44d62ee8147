#!/usr/bin/env bash
# Stop the SASL_SSL test broker started by scripts/kafka-up-secure.sh (same KAFKA_STATE_DIR).
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KAFKA_STATE_DIR=${KAFKA_STATE_DIR:-$(cd "$SCRIPT_DIR/.." && pwd)/.kafka-secure} exec "$SCRIPT_DIR/kafka-down.sh" "$@"
