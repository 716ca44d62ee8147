#!/usr/bin/env bash
# Run MirrorMaker 2 in dedicated mode (org.apache.kafka.connect.mirror.MirrorMaker) in the
# foreground, copying one topic from cluster alias MM2_SOURCE to alias MM2_TARGET, both on the
# same broker: the copy of TOPIC is MM2_SOURCE.TOPIC (the default replication policy; the
# identity policy cannot be used when source and target are one cluster, the copy would be the
# topic itself). Needs Java 17+ and Maven (jars come from Maven Central, cached).
#
#   scripts/mm2.sh --fetch-only                       # only fetch the jars
#   MM2_TOPIC=orders scripts/mm2.sh                   # at-least-once, until SIGTERM/SIGINT
#   MM2_TOPIC=orders MM2_EOS=1 scripts/mm2.sh         # exactly-once (KIP-618 in dedicated mode)
#
# The script execs the JVM, so its pid is MirrorMaker's (the benchmark reads its /proc).
#
# Environment:
#   MM2_TOPIC            topic to copy (required unless --fetch-only)
#   MM2_BOOTSTRAP        the broker (default $KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:9092)
#   MM2_SOURCE           source cluster alias; the copy is <alias>.<topic>      (default src)
#   MM2_TARGET           target cluster alias                                  (default dst)
#   MM2_TASKS            tasks.max: one task per partition is the fair setting (default 6)
#   MM2_EOS              1: exactly.once.source.support=enabled on the target  (default 0)
#   MM2_GROUPS           consumer groups to checkpoint and sync (regex)        (default .*)
#   MM2_REST_PORT        internal REST port (needed for exactly-once)          (default 38083)
#   MM2_STATE_DIR        mm2.properties and mm2.log                            (default <repo>/.mm2)
#   MM2_HEAP_OPTS        JVM heap flags (connect-mirror-maker.sh's default)    (default -Xms256m -Xmx2g)
#   MM2_VERSION          org.apache.kafka:connect-mirror version               (default 4.3.1, see below)
#   MM2_CACHE            jar directory        (default ~/.cache/topic-migrator/mm2-$MM2_VERSION/libs)
#   MM2_MVN_ARGS         extra arguments for mvn
#   MM2_EXTRA_PROPERTIES extra mm2.properties lines (newline separated), appended last
#
# Version: the broker is Kafka 4.4.0, but the registry serves connect-mirror and
# connect-mirror-client only up to 4.3.1 (4.4.0 answers "Could not find artifact"), so MM2 and
# its Connect runtime run at 4.3.1, a 4.3 client against a 4.4 broker (wire compatible).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

MM2_VERSION=${MM2_VERSION:-4.3.1}
LIBS=${MM2_CACHE:-$HOME/.cache/topic-migrator/mm2-$MM2_VERSION/libs}
BOOTSTRAP=${MM2_BOOTSTRAP:-${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}}
SRC=${MM2_SOURCE:-src}
DST=${MM2_TARGET:-dst}
TASKS=${MM2_TASKS:-6}
EOS=${MM2_EOS:-0}
GROUPS_RE=${MM2_GROUPS:-.*}
REST_PORT=${MM2_REST_PORT:-38083}
STATE_DIR=${MM2_STATE_DIR:-$REPO_ROOT/.mm2}
HEAP_OPTS=${MM2_HEAP_OPTS:--Xms256m -Xmx2g}

log() { echo "mm2: $*" >&2; }
die() { echo "mm2: ERROR: $*" >&2; exit 1; }
# shellcheck source=scripts/maven-fetch.sh
source "$SCRIPT_DIR/maven-fetch.sh"

if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then JAVA=$JAVA_HOME/bin/java; else JAVA=java; fi

# fetch_jars: make $LIBS hold MirrorMaker 2 and its runtime (Maven Central, cached), the same
# way scripts/kafka-up.sh fetches the broker.
fetch_jars() {
  maven_fetch "$LIBS" "$MM2_VERSION" "$SCRIPT_DIR/mm2-pom.xml" mm2.version "connect-mirror-$MM2_VERSION.jar" \
    "MirrorMaker 2 (org.apache.kafka:connect-mirror)" "${MM2_MVN_ARGS:-}"
}

fetch_jars
if [[ ${1:-} == --fetch-only ]]; then
  echo "MM2_LIBS=$LIBS"
  exit 0
fi
[[ -n ${MM2_TOPIC:-} ]] || die "set MM2_TOPIC to the topic to copy"
[[ $SRC != "$DST" ]] || die "MM2_SOURCE and MM2_TARGET must differ"

mkdir -p "$STATE_DIR"
PROPS=$STATE_DIR/mm2.properties
cat >"$PROPS" <<EOF
# Written by scripts/mm2.sh. One broker plays both clusters: $SRC -> $DST copies
# $MM2_TOPIC into $SRC.$MM2_TOPIC (DefaultReplicationPolicy).
clusters = $SRC, $DST
$SRC.bootstrap.servers = $BOOTSTRAP
$DST.bootstrap.servers = $BOOTSTRAP
$SRC->$DST.enabled = true
$DST->$SRC.enabled = false
$SRC->$DST.topics = $MM2_TOPIC
$SRC->$DST.groups = $GROUPS_RE
tasks.max = $TASKS

# One broker: replication factor 1 everywhere.
replication.factor = 1
checkpoints.topic.replication.factor = 1
heartbeats.topic.replication.factor = 1
offset-syncs.topic.replication.factor = 1
offset.storage.replication.factor = 1
status.storage.replication.factor = 1
config.storage.replication.factor = 1

# Consumer-group offset translation (checkpoints), as fast as MM2 allows.
emit.checkpoints.enabled = true
emit.checkpoints.interval.seconds = 1
sync.group.offsets.enabled = true
sync.group.offsets.interval.seconds = 1
refresh.groups.interval.seconds = 5
refresh.topics.interval.seconds = 5
# Heartbeat topics are replicated whatever the topic filter says, and on one cluster each copy
# (src.heartbeats) is again a heartbeats topic of the source: src.src.heartbeats, and so on,
# one more every topic refresh, each a task reconfiguration. Only the benchmark topic here.
heartbeats.replication.enabled = false

# Batching comparable to the migrator's librdkafka clients (linger 5 ms, ~1 MB batches,
# up to 5000 records per poll / transaction, 8 MiB fetches).
$SRC.consumer.max.poll.records = 5000
$SRC.consumer.fetch.max.bytes = 8388608
$DST.producer.linger.ms = 5
$DST.producer.batch.size = 1048576
$DST.producer.max.request.size = 8388608
EOF
if [[ $EOS == 1 ]]; then
  cat >>"$PROPS" <<EOF

# Exactly-once (KIP-618, dedicated mode since 3.5): transactional source tasks on the target's
# worker; zombie fencing needs the internal REST server (KIP-710). The source is read
# read_committed so aborted records are not copied.
$DST.exactly.once.source.support = enabled
dedicated.mode.enable.internal.rest = true
listeners = http://127.0.0.1:$REST_PORT
$SRC.consumer.isolation.level = read_committed
EOF
fi
if [[ -n ${MM2_EXTRA_PROPERTIES:-} ]]; then
  printf '\n# MM2_EXTRA_PROPERTIES\n%s\n' "$MM2_EXTRA_PROPERTIES" >>"$PROPS"
fi

read -r -a heap <<<"$HEAP_OPTS"
log "MirrorMaker 2 $MM2_VERSION: $SRC->$DST on $BOOTSTRAP, topic $MM2_TOPIC, tasks $TASKS, exactly-once $EOS; config $PROPS, log $STATE_DIR/mm2.log"
# The JVM flags of Kafka's kafka-run-class.sh / connect-mirror-maker.sh.
exec "$JAVA" "${heap[@]}" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
  -Dmm2.logs.dir="$STATE_DIR" -Dlog4j2.configurationFile="$SCRIPT_DIR/mm2-log4j2.properties" \
  -cp "$LIBS/*" org.apache.kafka.connect.mirror.MirrorMaker "$PROPS" --clusters "$DST"
