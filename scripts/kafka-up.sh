#!/usr/bin/env bash
# Start a throw-away single-node Apache Kafka 4.x broker (KRaft, combined broker+controller)
# on loopback, for tests. Needs only Java 17+ and Maven (jars come from Maven Central, cached).
#
#   scripts/kafka-up.sh            # -> last stdout line: KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092
#   scripts/kafka-down.sh          # stop it
#
# Environment (all optional):
#   KAFKA_VERSION          org.apache.kafka:kafka_2.13 version              (default 4.4.0)
#   KAFKA_PORT             PLAINTEXT listener port on 127.0.0.1            (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller listener port                  (default KAFKA_PORT+1)
#   KAFKA_STATE_DIR        data, logs, pid file, server.properties         (default <repo>/.kafka)
#   KAFKA_CACHE            directory holding the broker jars               (default ~/.cache/topic-migrator/kafka-$KAFKA_VERSION/libs)
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to be ready      (default 120)
#   KAFKA_HEAP_OPTS        JVM heap flags                                  (default "-Xms256m -Xmx1g")
#   KAFKA_MVN_ARGS         extra arguments for mvn, e.g. "-Dmaven.repo.local=/tmp/m2"
#   KAFKA_EXTRA_PROPERTIES extra server.properties lines (newline separated), appended last
#   KAFKA_SECURE           1: a SASL_SSL broker instead (see below; scripts/kafka-up-secure.sh sets it)
#
# Every start wipes the data dir, so each run begins with an empty cluster (new cluster id).
# If a broker started by this script (same state dir) is still running, nothing is started and
# its address is printed again. Progress goes to stderr; stdout carries only the address line.
# A file <state>/kafka.env holds KAFKA_BOOTSTRAP_SERVERS, KAFKA_LIBS and KAFKA_VERSION.
#
# KAFKA_SECURE=1 starts a broker that only speaks SASL_SSL (SCRAM-SHA-512) to clients, with the
# StandardAuthorizer on and allow.everyone.if.no.acl.found=false. Defaults then: port 9192,
# state dir <repo>/.kafka-secure. Each start makes, in <state>/secure:
#   ca.pem, ca.key             a self-signed CA (clients trust ca.pem)
#   broker.pem                 the broker's key and certificate (SAN IP:127.0.0.1, DNS:localhost)
#   admin.properties, bridge.properties, operator.properties
#                              Java-style client settings (for --command-config and Kafka's own
#                              tools) of the SCRAM users admin (a super user), bridge and operator,
#                              whose random passwords are set at format time (--add-scram)
# The controller listener is SASL_PLAINTEXT/PLAIN on loopback, for the broker itself (user
# "controller", a super user); the broker talks to itself over SASL_SSL as admin.
# Stdout then carries two lines: KAFKA_SECURE_DIR=<state>/secure and KAFKA_SECURE_BOOTSTRAP=HOST:PORT.
#
# --nodes N (or KAFKA_NODES=N, N from 2 to 9) starts a cluster of N combined broker+controller
# nodes instead, with a static N-voter KRaft quorum, for fault tests that kill, stop or pause one
# node (kafkatest/cluster3.go). Every node listens on 127.0.0.1: node i (1..N) serves clients on
# KAFKA_PORT+i-1 (KAFKA_PORT defaults to 19092 here, never 9092) and its controller on
# KAFKA_CONTROLLER_PORT+i-1 (default KAFKA_PORT+N). Replication factor min(N,3) for every topic
# (internal ones too: offsets, transaction state), min.insync.replicas one less (2 for 3 nodes),
# unclean leader election off; default heap "-Xms128m -Xmx384m" per node; default state dir
# <repo>/.kafka/clusterN (ignored by git, beside a single broker's files). Each node's files are
# in <state>/nodeI: server.properties, data/, logs/, kafka.pid (the JVM's pid, for kill -9,
# SIGTERM, SIGSTOP/SIGCONT) and cmdline (its command line, NUL separated, to start it again on
# its data after a stop). <state>/nodes lists "ID HOST:PORT CONTROLLER_PORT DIR", one node a
# line. Stdout carries two lines, KAFKA_CLUSTERN_DIR=<state> and, last,
# KAFKA_CLUSTERN_BOOTSTRAP=HOST:PORT,HOST:PORT,... (N the node count, e.g.
# KAFKA_CLUSTER3_BOOTSTRAP); <state>/kafka.env holds both. The cluster id carries the same mark as
# a single broker's. `KAFKA_STATE_DIR=<state> scripts/kafka-down.sh` (or `scripts/kafka-down.sh
# --nodes N` for the default state dir) stops every node. If every node of the state dir runs,
# nothing is started and the address is printed again; if only some do, it refuses.
#
#   scripts/kafka-up.sh --nodes 3  # -> last stdout line: KAFKA_CLUSTER3_BOOTSTRAP=127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094
set -euo pipefail

NODES=${KAFKA_NODES:-1}
while (($#)); do
  case $1 in
    --nodes)
      [[ $# -ge 2 ]] || { echo "kafka-up: ERROR: --nodes needs a number" >&2; exit 2; }
      NODES=$2
      shift 2
      ;;
    --nodes=*) NODES=${1#--nodes=}; shift ;;
    -h | --help) sed -n '2,/^set -euo pipefail/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "kafka-up: ERROR: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[[ $NODES =~ ^[1-9]$ ]] || { echo "kafka-up: ERROR: --nodes / KAFKA_NODES must be a number from 1 to 9, not '$NODES'" >&2; exit 2; }

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

KAFKA_VERSION=${KAFKA_VERSION:-4.4.0}
SECURE=${KAFKA_SECURE:-0}
if [[ $SECURE == 1 ]]; then
  PORT=${KAFKA_PORT:-9192}
  STATE_DIR=${KAFKA_STATE_DIR:-$REPO_ROOT/.kafka-secure}
elif ((NODES > 1)); then
  PORT=${KAFKA_PORT:-19092}
  STATE_DIR=${KAFKA_STATE_DIR:-$REPO_ROOT/.kafka/cluster$NODES}
else
  PORT=${KAFKA_PORT:-9092}
  STATE_DIR=${KAFKA_STATE_DIR:-$REPO_ROOT/.kafka}
fi
[[ $PORT =~ ^[0-9]+$ ]] || { echo "kafka-up: ERROR: KAFKA_PORT must be a number" >&2; exit 1; }
if ((NODES > 1)); then
  CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((PORT + NODES))}
  HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms128m -Xmx384m}
else
  CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
  HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}
fi
LIBS=${KAFKA_CACHE:-$HOME/.cache/topic-migrator/kafka-$KAFKA_VERSION/libs}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-120}
HOST=127.0.0.1

DATA_DIR=$STATE_DIR/data
LOG_DIR=$STATE_DIR/logs
PID_FILE=$STATE_DIR/kafka.pid
PROPS=$STATE_DIR/server.properties
ENV_FILE=$STATE_DIR/kafka.env
SECURE_DIR=$STATE_DIR/secure

log() { echo "kafka-up: $*" >&2; }
die() { echo "kafka-up: ERROR: $*" >&2; exit 1; }
# shellcheck source=scripts/maven-fetch.sh
source "$SCRIPT_DIR/maven-fetch.sh"

[[ $PORT =~ ^[0-9]+$ && $CONTROLLER_PORT =~ ^[0-9]+$ ]] || die "KAFKA_PORT/KAFKA_CONTROLLER_PORT must be numbers"
[[ $PORT != "$CONTROLLER_PORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"
[[ $SECURE == 0 || $SECURE == 1 ]] || die "KAFKA_SECURE must be 0 or 1"
[[ $SECURE == 0 || $NODES == 1 ]] || die "KAFKA_SECURE=1 starts a single broker; --nodes $NODES is not supported with it"
if ((NODES > 1)); then
  # Node i serves clients on PORT+i-1 and its controller on CONTROLLER_PORT+i-1: the ranges must not overlap.
  ((CONTROLLER_PORT >= PORT + NODES || CONTROLLER_PORT + NODES <= PORT)) ||
    die "ports $PORT..$((PORT + NODES - 1)) (clients) and $CONTROLLER_PORT..$((CONTROLLER_PORT + NODES - 1)) (controllers) overlap; set KAFKA_CONTROLLER_PORT"
fi

if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then JAVA=$JAVA_HOME/bin/java; else JAVA=java; fi

# --- helpers -------------------------------------------------------------------------------

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# api_versions_ok [PORT]: the broker on PORT (default $PORT) answers a Kafka ApiVersions v0
# request with error_code 0, i.e. its request handlers are really serving (not merely a bound
# socket). Pure bash.
api_versions_ok() {
  local hex port=${1:-$PORT}
  # request: size=12 | api_key=18 | api_version=0 | correlation_id=7 | client_id="up"
  # shellcheck disable=SC2016 # expanded by the inner bash
  hex=$(timeout 5 bash -c '
      exec 3<>"/dev/tcp/$0/$1" || exit 1
      printf "\x00\x00\x00\x0c\x00\x12\x00\x00\x00\x00\x00\x07\x00\x02up" >&3
      head -c 10 <&3 | od -An -tx1' "$HOST" "$port" 2>/dev/null) || return 1
  hex=${hex//[[:space:]]/}
  # response: size(4) | correlation_id=7 (4) | error_code=0 (2)
  [[ ${#hex} -eq 20 && ${hex:8:12} == "000000070000" ]]
}

# pid_cmdline PID: the command line of PID ("" if gone).
pid_cmdline() {
  if [[ -r /proc/$1/cmdline ]]; then tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true
  else ps -o args= -p "$1" 2>/dev/null || true; fi
}

# running_pid [PID_FILE PROPS]: pid of the broker this script started for this state dir (or
# the node whose pid file and server.properties are given), or fails.
running_pid() {
  local pid_file=${1:-$PID_FILE} props=${2:-$PROPS} pid
  [[ -f $pid_file ]] || return 1
  pid=$(<"$pid_file")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ $(pid_cmdline "$pid") == *kafka.Kafka*"$props"* ]] || return 1
  echo "$pid"
}

print_tail() {
  local f
  for f in "$LOG_DIR/server.log" "$LOG_DIR/kafka.out" "$LOG_DIR/format.log"; do
    [[ -s $f ]] || continue
    echo "----- last 50 lines of $f -----" >&2
    tail -n 50 "$f" >&2
  done
}

new_cluster_id() {
  # Same shape as Kafka's Uuid.randomUuid().toString(): 16 bytes, base64url, no padding.
  # The first 6 bytes are "tmig-t" (base64 "dG1pZy10"): the mark of a cluster this script
  # started, which the tests (kafkatest) may wipe; they refuse any other cluster.
  { printf 'tmig-t'; head -c 10 /dev/urandom; } | base64 | tr '+/' '-_' | tr -d '=\n'
  echo
}

# fetch_jars: make $LIBS hold every jar the broker and tools need (Maven Central, cached).
fetch_jars() {
  maven_fetch "$LIBS" "$KAFKA_VERSION" "$SCRIPT_DIR/pom.xml" kafka.version "kafka_2.13-$KAFKA_VERSION.jar" \
    "Kafka (org.apache.kafka:kafka_2.13)" "${KAFKA_MVN_ARGS:-}"
}

check_java() {
  command -v "$JAVA" >/dev/null || die "java not found (Kafka 4.x needs Java 17 or newer)"
  local v major
  v=$("$JAVA" -version 2>&1 | sed -nE 's/.*version "([^"]+)".*/\1/p' | head -n 1)
  major=${v%%.*}
  [[ $major == 1 ]] && major=$(echo "$v" | cut -d. -f2)
  [[ $major =~ ^[0-9]+$ ]] || die "cannot tell the Java version from '$JAVA -version'"
  ((major >= 17)) || die "Kafka 4.x brokers need Java 17 or newer; '$JAVA' is $v"
}

# announce ADDR: the stdout line(s) naming the broker.
announce() {
  if [[ $SECURE == 1 ]]; then
    echo "KAFKA_SECURE_DIR=$SECURE_DIR"
    echo "KAFKA_SECURE_BOOTSTRAP=$1"
  else
    echo "KAFKA_BOOTSTRAP_SERVERS=$1"
  fi
}

# random_secret: 32 hex characters (no quoting trouble in JAAS or --add-scram).
random_secret() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# make_certs: a self-signed CA and a broker certificate it signs, into $SECURE_DIR.
make_certs() {
  command -v openssl >/dev/null || die "openssl is needed for KAFKA_SECURE=1, and was not found"
  local d=$SECURE_DIR
  (
    set -e
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=topic-migrator test CA" \
      -keyout "$d/ca.key" -out "$d/ca.pem"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
      -keyout "$d/broker.key" -out "$d/broker.csr"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >"$d/broker.ext"
    openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
      -days 30 -extfile "$d/broker.ext" -out "$d/broker.crt"
    # Kafka's PEM keystore: an (unencrypted, PKCS#8) key followed by the certificate chain.
    cat "$d/broker.key" "$d/broker.crt" "$d/ca.pem" >"$d/broker.pem"
    rm -f "$d/broker.csr" "$d/broker.ext" "$d/ca.srl"
  ) >"$LOG_DIR/openssl.log" 2>&1 || { cat "$LOG_DIR/openssl.log" >&2; die "openssl could not make the certificates"; }
  chmod 644 "$d/ca.pem"
}

# write_client_properties USER PASSWORD: $SECURE_DIR/USER.properties, Java client style.
write_client_properties() {
  local f=$SECURE_DIR/$1.properties
  (umask 077; cat >"$f" <<EOF
# Written by scripts/kafka-up.sh (KAFKA_SECURE=1) for SCRAM user $1; rewritten on every start.
bootstrap.servers=$HOST:$PORT
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$1" password="$2";
ssl.truststore.type=PEM
ssl.truststore.location=$SECURE_DIR/ca.pem
EOF
  )
}

# --- a cluster of NODES nodes (--nodes) -----------------------------------------------------

# cluster_settings: the server.properties lines every node of a cluster shares (after its own).
cluster_settings() {
  local rf=$((NODES < 3 ? NODES : 3))
  local min_isr=$((rf > 1 ? rf - 1 : 1))
  cat <<EOT
num.partitions=$NODES
default.replication.factor=$rf
min.insync.replicas=$min_isr
unclean.leader.election.enable=false
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=$((2 * NODES))
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=$((2 * NODES))
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr
group.initial.rebalance.delay.ms=0

# ACLs on, so CreateAcls/DescribeAcls work; everyone is allowed while no ACL matches.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=true
EOT
}

# announce_cluster BOOTSTRAP: the stdout lines naming the cluster (the address last).
announce_cluster() {
  echo "KAFKA_CLUSTER${NODES}_DIR=$STATE_DIR"
  echo "KAFKA_CLUSTER${NODES}_BOOTSTRAP=$1"
}

# start_cluster: start NODES combined nodes with a static quorum of NODES voters, or print the
# address of the cluster already running from this state dir.
start_cluster() {
  local i n addr_key=KAFKA_CLUSTER${NODES}_BOOTSTRAP up=0 addr
  for ((i = 1; i <= NODES; i++)); do
    running_pid "$STATE_DIR/node$i/kafka.pid" "$STATE_DIR/node$i/server.properties" >/dev/null && up=$((up + 1))
  done
  if ((up == NODES)) && addr=$(sed -n "s/^$addr_key=//p" "$ENV_FILE" 2>/dev/null) && [[ -n $addr ]]; then
    log "cluster of $NODES nodes already running from $STATE_DIR, leaving it as it is"
    announce_cluster "$addr"
    exit 0
  fi
  ((up == 0)) || die "$up of the $NODES nodes started from $STATE_DIR are running and the others are not (a test stopped one?); stop them with KAFKA_STATE_DIR=$STATE_DIR scripts/kafka-down.sh, then start again"
  [[ -f $PID_FILE ]] && running_pid >/dev/null && die "a single broker runs from $STATE_DIR; stop it first or pick another KAFKA_STATE_DIR"

  local -a ports=() cports=() pids=()
  for ((i = 0; i < NODES; i++)); do
    ports+=($((PORT + i)))
    cports+=($((CONTROLLER_PORT + i)))
  done
  for n in "${ports[@]}" "${cports[@]}"; do
    port_open "$n" && die "port $HOST:$n is already in use by another process (not a node started by this script from $STATE_DIR); stop it or set KAFKA_PORT / KAFKA_CONTROLLER_PORT"
  done

  check_java
  fetch_jars
  CP="$LIBS/*"

  rm -rf "$STATE_DIR"/node[0-9] "$DATA_DIR" "$LOG_DIR" "$STATE_DIR/nodes" "$ENV_FILE" "$PID_FILE"
  local voters="" bootstrap=""
  for ((i = 1; i <= NODES; i++)); do
    voters+="${voters:+,}$i@$HOST:${cports[i - 1]}"
    bootstrap+="${bootstrap:+,}$HOST:${ports[i - 1]}"
  done

  local cluster_id dir
  cluster_id=$(new_cluster_id)
  read -r -a heap <<<"$HEAP_OPTS"
  local launcher=()
  command -v setsid >/dev/null && launcher=(setsid) # own session: survives the caller's process group
  log "formatting $NODES nodes in $STATE_DIR (cluster id $cluster_id, Kafka $KAFKA_VERSION, quorum $voters)"
  for ((i = 1; i <= NODES; i++)); do
    dir=$STATE_DIR/node$i
    mkdir -p "$dir/data" "$dir/logs"
    cat >"$dir/server.properties" <<EOT
# Written by scripts/kafka-up.sh --nodes $NODES (node $i of $NODES); rewritten on every start.
process.roles=broker,controller
node.id=$i
listeners=PLAINTEXT://$HOST:${ports[i - 1]},CONTROLLER://$HOST:${cports[i - 1]}
advertised.listeners=PLAINTEXT://$HOST:${ports[i - 1]}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.voters=$voters
log.dirs=$dir/data

$(cluster_settings)
EOT
    if [[ -n ${KAFKA_EXTRA_PROPERTIES:-} ]]; then
      printf '\n# KAFKA_EXTRA_PROPERTIES\n%s\n' "$KAFKA_EXTRA_PROPERTIES" >>"$dir/server.properties"
    fi
    if ! "$JAVA" -Dkafka.logs.dir="$dir/logs" -Dlog4j2.configurationFile="$SCRIPT_DIR/log4j2.yaml" -cp "$CP" \
        kafka.tools.StorageTool format --config "$dir/server.properties" --cluster-id "$cluster_id" \
        >"$dir/logs/format.log" 2>&1; then
      LOG_DIR=$dir/logs print_tail
      die "kafka-storage format of node $i failed"
    fi
    echo "$i $HOST:${ports[i - 1]} ${cports[i - 1]} $dir" >>"$STATE_DIR/nodes"
  done

  fail_cluster() {
    log "ERROR: $*"
    local j p
    for ((j = 1; j <= NODES; j++)); do
      LOG_DIR=$STATE_DIR/node$j/logs print_tail
      p=$(cat "$STATE_DIR/node$j/kafka.pid" 2>/dev/null || true)
      [[ $p =~ ^[0-9]+$ ]] && kill -KILL "$p" 2>/dev/null || true
      rm -f "$STATE_DIR/node$j/kafka.pid"
    done
    exit 1
  }

  local -a cmd
  for ((i = 1; i <= NODES; i++)); do
    dir=$STATE_DIR/node$i
    cmd=("$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
      -Dkafka.logs.dir="$dir/logs" -Dlog4j2.configurationFile="$SCRIPT_DIR/log4j2.yaml"
      -cp "$CP" kafka.Kafka "$dir/server.properties")
    # The command line, to start the node again on its data (kafkatest does after a stop).
    printf '%s\0' "${cmd[@]}" >"$dir/cmdline"
    log "starting node $i on $HOST:${ports[i - 1]} (controller $HOST:${cports[i - 1]}), logs in $dir/logs"
    # shellcheck disable=SC2016 # expanded by the inner bash
    "${launcher[@]}" bash -c 'echo $$ >"$0"; cd "$1" || exit 1; shift; exec "$@"' "$dir/kafka.pid" "$dir" \
      "${cmd[@]}" </dev/null >"$dir/logs/kafka.out" 2>&1 9>&- &
  done

  local deadline=$((SECONDS + START_TIMEOUT)) ready p
  while :; do
    ready=0
    for ((i = 1; i <= NODES; i++)); do
      dir=$STATE_DIR/node$i
      p=${pids[i - 1]:-}
      if [[ -z $p && -s $dir/kafka.pid ]]; then
        p=$(<"$dir/kafka.pid")
        pids[i - 1]=$p
      fi
      [[ -n $p ]] || continue
      kill -0 "$p" 2>/dev/null || fail_cluster "node $i exited during start-up"
      if grep -q 'Kafka Server started' "$dir/logs/server.log" 2>/dev/null &&
          port_open "${ports[i - 1]}" && api_versions_ok "${ports[i - 1]}"; then
        ready=$((ready + 1))
      fi
    done
    ((ready == NODES)) && break
    ((SECONDS < deadline)) || fail_cluster "only $ready of $NODES nodes were ready within ${START_TIMEOUT}s"
    sleep 0.5
  done

  {
    announce_cluster "$bootstrap"
    echo "KAFKA_NODES=$NODES"
    echo "KAFKA_LIBS=$LIBS"
    echo "KAFKA_VERSION=$KAFKA_VERSION"
  } >"$ENV_FILE"
  log "cluster of $NODES nodes ready (pids ${pids[*]}, Kafka $KAFKA_VERSION)"
  announce_cluster "$bootstrap"
}

# --- main ----------------------------------------------------------------------------------

mkdir -p "$STATE_DIR"
# Serialise concurrent kafka-up/kafka-down runs on the same state dir. The broker must not
# inherit fd 9 (it would hold the lock for its whole life): see "9>&-" below.
exec 9>"$STATE_DIR/.lock"
flock -w 300 9 || die "timed out waiting for the lock on $STATE_DIR"

if ((NODES > 1)); then
  start_cluster
  exit 0
fi

if pid=$(running_pid); then
  addr_key=KAFKA_BOOTSTRAP_SERVERS
  [[ $SECURE == 1 ]] && addr_key=KAFKA_SECURE_BOOTSTRAP
  addr=$(sed -n "s/^$addr_key=//p" "$ENV_FILE" 2>/dev/null || true)
  [[ -n $addr || $SECURE == 0 ]] || die "the broker running from $STATE_DIR (pid $pid) is not a KAFKA_SECURE=1 broker; stop it first"
  addr=${addr:-$HOST:$PORT}
  [[ $addr == "$HOST:$PORT" ]] || log "note: the running broker listens on $addr, not on port $PORT"
  log "broker already running (pid $pid), leaving it as it is"
  announce "$addr"
  exit 0
fi
rm -f "$PID_FILE"

for p in "$PORT" "$CONTROLLER_PORT"; do
  if port_open "$p"; then
    die "port $HOST:$p is already in use by another process (not a broker started by this script from $STATE_DIR); stop it or set KAFKA_PORT / KAFKA_CONTROLLER_PORT"
  fi
done

check_java
fetch_jars
CP="$LIBS/*"

rm -rf "$DATA_DIR" "$LOG_DIR" "$SECURE_DIR"
mkdir -p "$DATA_DIR" "$LOG_DIR"

# single_node_settings: the server.properties lines of every single-node test broker.
single_node_settings() {
  cat <<'EOF'
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
}

if [[ $SECURE == 1 ]]; then
  mkdir -p "$SECURE_DIR"
  make_certs
  declare -A PASSWORDS=([admin]=$(random_secret) [bridge]=$(random_secret) [operator]=$(random_secret))
  CONTROLLER_PASSWORD=$(random_secret)
  (umask 077; cat >"$PROPS" <<EOF
# Written by scripts/kafka-up.sh (KAFKA_SECURE=1); rewritten on every start.
process.roles=broker,controller
node.id=1
listeners=SASL_SSL://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=SASL_SSL://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=SASL_SSL
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=$HOST:$CONTROLLER_PORT
log.dirs=$DATA_DIR

# Clients: SCRAM-SHA-512 over TLS. The broker talks to itself on this listener as admin.
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${PASSWORDS[admin]}";
ssl.keystore.type=PEM
ssl.keystore.location=$SECURE_DIR/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$SECURE_DIR/ca.pem
ssl.client.auth=none

# Controller: PLAIN on loopback (SCRAM credentials live in the metadata the controller serves).
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="$CONTROLLER_PASSWORD" user_controller="$CONTROLLER_PASSWORD";

$(single_node_settings)

# ACLs enforced: only what an ACL allows, except for the super users.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:controller
allow.everyone.if.no.acl.found=false
EOF
  )
else
cat >"$PROPS" <<EOF
# Written by scripts/kafka-up.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=$HOST:$CONTROLLER_PORT
log.dirs=$DATA_DIR

$(single_node_settings)

# ACLs on, so CreateAcls/DescribeAcls work; everyone is allowed while no ACL matches.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=true
EOF
fi
if [[ -n ${KAFKA_EXTRA_PROPERTIES:-} ]]; then
  printf '\n# KAFKA_EXTRA_PROPERTIES\n%s\n' "$KAFKA_EXTRA_PROPERTIES" >>"$PROPS"
fi

LOG_OPTS=(-Dkafka.logs.dir="$LOG_DIR" -Dlog4j2.configurationFile="$SCRIPT_DIR/log4j2.yaml")

cluster_id=$(new_cluster_id)
scram=()
if [[ $SECURE == 1 ]]; then
  for user in admin bridge operator; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=${PASSWORDS[$user]}]")
  done
fi
log "formatting $DATA_DIR (cluster id $cluster_id, Kafka $KAFKA_VERSION)"
if ! "$JAVA" "${LOG_OPTS[@]}" -cp "$CP" kafka.tools.StorageTool format \
    --config "$PROPS" --cluster-id "$cluster_id" --standalone "${scram[@]}" >"$LOG_DIR/format.log" 2>&1; then
  print_tail
  die "kafka-storage format failed"
fi

read -r -a heap <<<"$HEAP_OPTS"
launcher=()
command -v setsid >/dev/null && launcher=(setsid)   # own session: survives the caller's process group
log "starting broker on $HOST:$PORT (controller $HOST:$CONTROLLER_PORT), logs in $LOG_DIR"
# The inner bash writes its own pid, then execs java: the pid file holds the JVM's pid.
# shellcheck disable=SC2016 # expanded by the inner bash
"${launcher[@]}" bash -c 'echo $$ >"$0"; cd "$1" || exit 1; shift; exec "$@"' "$PID_FILE" "$STATE_DIR" \
  "$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
  "${LOG_OPTS[@]}" -cp "$CP" kafka.Kafka "$PROPS" \
  </dev/null >"$LOG_DIR/kafka.out" 2>&1 9>&- &

pid=
fail_start() {
  log "ERROR: $*"
  print_tail
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$PID_FILE"
  exit 1
}

deadline=$((SECONDS + START_TIMEOUT))
while :; do
  if [[ -z $pid && -s $PID_FILE ]]; then pid=$(<"$PID_FILE"); fi
  if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
    fail_start "the broker process exited during start-up"
  fi
  # The secure listener speaks TLS first, so the ApiVersions probe is for the plain one only.
  if [[ -n $pid ]] && grep -q 'Kafka Server started' "$LOG_DIR/server.log" 2>/dev/null &&
      port_open "$PORT" && { [[ $SECURE == 1 ]] || api_versions_ok; }; then
    break
  fi
  ((SECONDS < deadline)) || fail_start "the broker was not ready within ${START_TIMEOUT}s"
  sleep 0.5
done

if [[ $SECURE == 1 ]]; then
  for user in admin bridge operator; do
    write_client_properties "$user" "${PASSWORDS[$user]}"
    log "client settings of SCRAM user $user: $SECURE_DIR/$user.properties"
  done
fi
{
  announce "$HOST:$PORT"
  echo "KAFKA_LIBS=$LIBS"
  echo "KAFKA_VERSION=$KAFKA_VERSION"
} >"$ENV_FILE"
log "broker ready (pid $pid, Kafka $KAFKA_VERSION)"
announce "$HOST:$PORT"
