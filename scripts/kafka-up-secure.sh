#!/usr/bin/env bash
# Start the SASL_SSL test broker: scripts/kafka-up.sh with KAFKA_SECURE=1 (see there).
# Default port 9192 (controller 9193), state dir <repo>/.kafka-secure; stop it with
# scripts/kafka-down-secure.sh. Stdout:
#   KAFKA_SECURE_DIR=<state>/secure          (ca.pem, admin/bridge/operator.properties)
#   KAFKA_SECURE_BOOTSTRAP=127.0.0.1:9192
set -euo pipefail
KAFKA_SECURE=1 exec "$(dirname "${BASH_SOURCE[0]}")/kafka-up.sh" "$@"
