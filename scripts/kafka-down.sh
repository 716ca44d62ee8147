#!/usr/bin/env bash
# Stop the test broker started by scripts/kafka-up.sh (same KAFKA_STATE_DIR).
# SIGTERM, wait up to KAFKA_STOP_TIMEOUT seconds (default 30), then SIGKILL.
# Exits 0 when no broker is running. Data and logs stay in the state dir until the next start.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
STATE_DIR=${KAFKA_STATE_DIR:-$REPO_ROOT/.kafka}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
PID_FILE=$STATE_DIR/kafka.pid
PROPS=$STATE_DIR/server.properties
ENV_FILE=$STATE_DIR/kafka.env

log() { echo "kafka-down: $*" >&2; }

if [[ ! -f $PID_FILE ]]; then
  log "not running (no $PID_FILE)"
  exit 0
fi

exec 9>"$STATE_DIR/.lock"
flock -w 300 9 || { log "ERROR: timed out waiting for the lock on $STATE_DIR"; exit 1; }

pid=$(cat "$PID_FILE" 2>/dev/null || true)
cmdline() {
  if [[ -r /proc/$1/cmdline ]]; then tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true
  else ps -o args= -p "$1" 2>/dev/null || true; fi
}

if [[ ! $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
  log "not running (stale pid file removed)"
  rm -f "$PID_FILE"
  exit 0
fi
if [[ $(cmdline "$pid") != *kafka.Kafka*"$PROPS"* ]]; then
  log "pid $pid is not the broker of $STATE_DIR (pid reused?); stale pid file removed, nothing killed"
  rm -f "$PID_FILE"
  exit 0
fi

log "stopping broker (pid $pid)"
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + STOP_TIMEOUT))
while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
if kill -0 "$pid" 2>/dev/null; then
  log "still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
fi
rm -f "$PID_FILE" "$ENV_FILE"
log "stopped"
