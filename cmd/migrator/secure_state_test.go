package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/clusterstate"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/state"
)

// stateReaderACLs are the ACLs runbooks/state-in-cluster.md gives a bridge
// that only copies: it reads the migration's state, and may not write it;
// it may mark its progress.
func stateReaderACLs() []bridgeGrant {
	return []bridgeGrant{
		{kafka.ResourceTopic, clusterstate.DefaultStateTopic, kafka.ResourcePatternTypeLiteral, kafka.ACLOperationRead, "read the renames and their phases (implies Describe)"},
		{kafka.ResourceTopic, clusterstate.DefaultAuditTopic, kafka.ResourcePatternTypeLiteral, kafka.ACLOperationRead, "the cache is pulled whole, audit log included (implies Describe)"},
		{kafka.ResourceTopic, clusterstate.DefaultStateTopic, kafka.ResourcePatternTypeLiteral, kafka.ACLOperationDescribeConfigs, "check that the state topic is compacted"},
		{kafka.ResourceTopic, clusterstate.DefaultAuditTopic, kafka.ResourcePatternTypeLiteral, kafka.ACLOperationDescribeConfigs, "check the audit topic's retention"},
		{kafka.ResourceTopic, clusterstate.DefaultProgressTopic, kafka.ResourcePatternTypeLiteral, kafka.ACLOperationRead, "read the progress marks (implies Describe)"},
		{kafka.ResourceTopic, clusterstate.DefaultProgressTopic, kafka.ResourcePatternTypeLiteral, kafka.ACLOperationWrite, "mark that it copies a rename"},
		{kafka.ResourceTopic, clusterstate.DefaultProgressTopic, kafka.ResourcePatternTypeLiteral, kafka.ACLOperationDescribeConfigs, "check that the progress topic is compacted"},
	}
}

// TestSecureStateInCluster runs a migration with --state-backend cluster on
// the SASL_SSL broker: the operator (admin) applies; the bridge's
// principal, with the bridge's ACLs and the state reader's of the
// runbook, copies every record with the cluster backend and no state
// file, and marks that it copies the rename in the progress topic, but
// cannot record a phase: the operator's next step records mirroring from
// its mark; cutover consumers, cutover producers and retire run as
// it are refused (exit 1, naming the lease's transactional id it may not
// use), with the cluster's state unchanged. No password (SCRAM) nor key
// password (ssl.key.password) from the client settings is in any state or
// audit record.
func TestSecureStateInCluster(t *testing.T) {
	s := kafkatest.NewSecure(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const src, dst, group, parts = "secst.orders_old.v1", "secst.orders.new.v1", "topic-migrator-bridge", 2
	s.CreateTopic(t, src, parts, map[string]string{"retention.ms": "-1"})
	produceNumbered(t, s.Cluster, src, parts, 0, 50)
	mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))

	// The operator's settings carry a key password too (unused by a SCRAM
	// login, but a secret all the same).
	const keyPassword = "key-password-never-stored-8123"
	adminProps, err := os.ReadFile(s.Properties("admin"))
	if err != nil {
		t.Fatal(err)
	}
	operatorProps := writeFile(t, "operator.properties", string(adminProps)+"\nssl.key.password="+keyPassword+"\n")
	secrets := []string{keyPassword}
	for _, user := range []string{"admin", "bridge"} {
		b, err := os.ReadFile(s.Properties(user))
		if err != nil {
			t.Fatal(err)
		}
		pw := regexp.MustCompile(`password="([^"]+)"`).FindSubmatch(b)
		if pw == nil {
			t.Fatalf("no password in %s", s.Properties(user))
		}
		secrets = append(secrets, string(pw[1]))
	}

	dir := t.TempDir()
	as := func(props, cache string, args ...string) (string, error) {
		out, errOut, err := run(t, append([]string{"-b", s.Bootstrap, "--command-config", props, "--map", mapFile, "--timeout", "15s",
			"--state", filepath.Join(dir, cache), "--state-backend", "cluster"}, args...)...)
		return out + errOut, err
	}
	if out, err := as(operatorProps, "operator.db", "apply", "--yes"); err != nil {
		t.Fatalf("apply as the operator: %v\n%s", err, out)
	}

	cl := s.Admin(t)
	grantACLs(t, cl, "User:bridge", append(bridgeACLs(src, dst, group), stateReaderACLs()...))
	mirror := exec.CommandContext(ctx, migratorBinary(t), "-b", s.Bootstrap, "--command-config", s.Properties("bridge"), "--map", mapFile,
		"--timeout", "15s", "--state", filepath.Join(dir, "bridge.db"), "--state-backend", "cluster",
		"mirror", "--until-caught-up", "--refresh", "1s", "--instance-id", "secure")
	out, err := mirror.CombinedOutput()
	if err != nil {
		t.Fatalf("mirror as the bridge with the cluster backend: %v\n%s", err, out)
	}
	assertExactlyOnce(t, s.Cluster, src, dst, parts)
	if !strings.Contains(string(out), "phase mirroring not recorded yet") {
		t.Errorf("the bridge does not say that it could not record phase mirroring:\n%s", out)
	}

	reader, err := clusterstate.Open(ctx, clusterstate.Options{Config: s.Config(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	before, _, err := reader.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Renames) != 1 || before.Renames[0].Phase != state.PhaseCreated {
		t.Fatalf("the cluster's renames after the bridge ran: %+v, want %s in phase created", before.Renames, src)
	}
	marks, err := reader.Marks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mark, ok := marks[src]
	if !ok || mark.Phase != state.PhaseMirroring || mark.Command != "migrator mirror" || mark.At.IsZero() {
		t.Fatalf("the bridge's progress marks %+v, want %s marked mirroring by migrator mirror", marks, src)
	}

	s.CommitOffsets(t, "app", src, map[int32]int64{0: 50, 1: 20})
	for _, args := range [][]string{
		{"cutover", "consumers", "--yes", "--rename", src, "--all-groups"},
		{"cutover", "producers", "--yes", "--rename", src},
		{"retire", "--rename", src, "--yes", "--force", "--reason", "test", "--quiet-period", "0s"},
	} {
		out, err := as(s.Properties("bridge"), "bridge.db", args...)
		if err == nil || exitCode(err) != 1 {
			t.Errorf("%v as the bridge: %v, want refused with exit code 1\n%s", args, err, out)
			continue
		}
		msg := err.Error()
		for _, want := range []string{"not authorized", clusterstate.TransactionalIDPrefix + src, "runbooks/state-in-cluster.md"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%v as the bridge: %q does not say %q", args, msg, want)
			}
		}
	}
	after, _, err := reader.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) {
		t.Errorf("the bridge's principal changed the cluster's state:\n%+v\nwas\n%+v", after, before)
	}
	offs, err := cl.GroupOffsets(ctx, "app")
	if err != nil || !reflect.DeepEqual(offs, map[string]map[int32]int64{src: {0: 50, 1: 20}}) {
		t.Errorf("group app after the bridge's refused cutover: %v %v", offs, err)
	}

	// The operator's next step records mirroring, then the move.
	if out, err := as(operatorProps, "operator.db", "cutover", "consumers", "--yes", "--rename", src, "--all-groups"); err != nil {
		t.Fatalf("cutover consumers as the operator: %v\n%s", err, out)
	}
	final, _, err := reader.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var phases []string
	for _, h := range final.Renames[0].History {
		phases = append(phases, string(h.To))
	}
	if want := []string{"created", "mirroring", "consumers-cut"}; !reflect.DeepEqual(phases, want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	recorded := false
	for _, e := range final.Audit {
		recorded = recorded || (e.Action == "phase mirroring" && strings.Contains(e.Detail, "the bridge "+mark.Actor) &&
			strings.Contains(e.Detail, mark.At.Format(time.RFC3339)) && strings.HasPrefix(e.Command, "migrator cutover consumers"))
	}
	if !recorded {
		t.Errorf("no audit entry records phase mirroring from the bridge's mark %+v: %+v", mark, final.Audit)
	}

	// No secret in any record of either topic, keys and headers included.
	for _, topic := range []string{clusterstate.DefaultStateTopic, clusterstate.DefaultAuditTopic, clusterstate.DefaultProgressTopic} {
		recs := s.ReadPartition(t, topic, 0)
		if len(recs) == 0 {
			t.Errorf("%s holds no record", topic)
		}
		for _, m := range recs {
			text := string(m.Key) + string(m.Value)
			for _, h := range m.Headers {
				text += h.Key + string(h.Value)
			}
			for _, secret := range secrets {
				if strings.Contains(text, secret) {
					t.Errorf("%s/%d@%d holds a secret: %s", topic, m.TopicPartition.Partition, m.TopicPartition.Offset, text)
				}
			}
		}
	}
}
