#!/usr/bin/env bash
# Stop the test broker started by scripts/kafka-up.sh (same KAFKA_STATE_DIR), or every node of
# the cluster it started with --nodes N (its state dir holds a file "nodes").
# SIGTERM (and SIGCONT, for a node a test paused with SIGSTOP), wait up to KAFKA_STOP_TIMEOUT
# seconds (default 30), then SIGKILL. The nodes of a cluster are stopped together.
# Exits 0 when nothing is running. Data and logs stay in the state dir until the next start.
#
#   scripts/kafka-down.sh              # the broker of <repo>/.kafka (or KAFKA_STATE_DIR)
#   scripts/kafka-down.sh --nodes 3    # the cluster of <repo>/.kafka/cluster3 (or KAFKA_STATE_DIR)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

NODES=${KAFKA_NODES:-1}
while (($#)); do
  case $1 in
    --nodes)
      [[ $# -ge 2 ]] || { echo "kafka-down: ERROR: --nodes needs a number" >&2; exit 2; }
      NODES=$2
      shift 2
      ;;
    --nodes=*) NODES=${1#--nodes=}; shift ;;
    *) echo "kafka-down: ERROR: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ $NODES =~ ^[1-9]$ ]] || { echo "kafka-down: ERROR: --nodes / KAFKA_NODES must be a number from 1 to 9, not '$NODES'" >&2; exit 2; }
if ((NODES > 1)); then
  STATE_DIR=${KAFKA_STATE_DIR:-$REPO_ROOT/.kafka/cluster$NODES}
else
  STATE_DIR=${KAFKA_STATE_DIR:-$REPO_ROOT/.kafka}
fi
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
PID_FILE=$STATE_DIR/kafka.pid
PROPS=$STATE_DIR/server.properties
ENV_FILE=$STATE_DIR/kafka.env
NODES_FILE=$STATE_DIR/nodes

log() { echo "kafka-down: $*" >&2; }

cmdline() {
  if [[ -r /proc/$1/cmdline ]]; then tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true
  else ps -o args= -p "$1" 2>/dev/null || true; fi
}

# broker_pid PID_FILE PROPS WHAT: the pid of the running broker of PROPS, or fails (and removes a
# stale pid file).
broker_pid() {
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  if [[ ! $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
    [[ -f $1 ]] && log "$3 not running (stale pid file removed)"
    rm -f "$1"
    return 1
  fi
  if [[ $(cmdline "$pid") != *kafka.Kafka*"$2"* ]]; then
    log "pid $pid is not $3 (pid reused?); stale pid file removed, nothing killed"
    rm -f "$1"
    return 1
  fi
  echo "$pid"
}

# stop_all WHAT PID...: SIGTERM (and SIGCONT) to each, wait, SIGKILL what is left.
stop_all() {
  local what=$1 pid left
  shift
  log "stopping $what (pid $*)"
  for pid in "$@"; do
    kill -TERM "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true # a paused JVM handles SIGTERM only once resumed
  done
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while :; do
    left=()
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
    ((${#left[@]} > 0 && SECONDS < deadline)) || break
    sleep 0.2
  done
  if ((${#left[@]} > 0)); then
    log "still alive after ${STOP_TIMEOUT}s, sending SIGKILL to ${left[*]}"
    for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${left[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
  fi
}

if [[ -f $NODES_FILE ]]; then
  exec 9>"$STATE_DIR/.lock"
  flock -w 300 9 || { log "ERROR: timed out waiting for the lock on $STATE_DIR"; exit 1; }
  pids=()
  while read -r id _ _ dir; do
    [[ -n ${dir:-} ]] || continue
    if pid=$(broker_pid "$dir/kafka.pid" "$dir/server.properties" "node $id of $STATE_DIR"); then
      pids+=("$pid")
    fi
  done <"$NODES_FILE"
  if ((${#pids[@]} == 0)); then
    log "no node of $STATE_DIR running"
  else
    stop_all "${#pids[@]} node(s) of $STATE_DIR" "${pids[@]}"
  fi
  while read -r _ _ _ dir; do [[ -n ${dir:-} ]] && rm -f "$dir/kafka.pid"; done <"$NODES_FILE"
  rm -f "$ENV_FILE"
  log "stopped"
  exit 0
fi

if [[ ! -f $PID_FILE ]]; then
  log "not running (no $PID_FILE)"
  exit 0
fi

exec 9>"$STATE_DIR/.lock"
flock -w 300 9 || { log "ERROR: timed out waiting for the lock on $STATE_DIR"; exit 1; }

pid=$(broker_pid "$PID_FILE" "$PROPS" "the broker of $STATE_DIR") || exit 0
stop_all broker "$pid"
rm -f "$PID_FILE" "$ENV_FILE"
log "stopped"
