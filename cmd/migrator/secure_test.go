package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/kafkatest"
)

// These tests run against the SASL_SSL broker of scripts/kafka-up-secure.sh
// (SCRAM-SHA-512 over TLS with a self-signed CA, StandardAuthorizer,
// allow.everyone.if.no.acl.found=false), through --command-config, as the
// real tool is run. scripts/test.sh starts that broker.

// TestSecurePing connects as admin over SASL_SSL, trusting the broker's
// self-signed CA; with a wrong password, ping fails at once with a clear
// authentication error and shows neither password.
func TestSecurePing(t *testing.T) {
	s := kafkatest.NewSecure(t)
	out, _, err := run(t, "-b", s.Bootstrap, "--command-config", s.Properties("admin"), "-o", "json", "ping")
	if err != nil || !strings.Contains(out, `"cluster_id"`) {
		t.Fatalf("ping as admin: %v\n%s", err, out)
	}

	good, err := os.ReadFile(s.Properties("admin"))
	if err != nil {
		t.Fatal(err)
	}
	pw := regexp.MustCompile(`password="([^"]+)"`).FindSubmatch(good)
	if pw == nil {
		t.Fatalf("no password in %s", s.Properties("admin"))
	}
	const wrong = "not-the-admin-password-4711"
	bad := writeFile(t, "wrong.properties", strings.Replace(string(good), string(pw[1]), wrong, 1))
	start := time.Now()
	// -v: librdkafka's own log lines go to stderr too, and must be scrubbed.
	stdout, stderr, err := run(t, "-v", "-b", s.Bootstrap, "--command-config", bad, "--timeout", "20s", "ping")
	if err == nil {
		t.Fatal("ping with a wrong password succeeded")
	}
	if !errors.Is(err, admin.ErrAuthentication) || !strings.Contains(err.Error(), "SASL authentication failed") || !strings.Contains(err.Error(), `user "admin"`) {
		t.Errorf("error does not say that SASL authentication failed for admin: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the authentication error took %s (it should not wait for the 20s timeout)", took)
	}
	for _, secret := range []string{wrong, string(pw[1])} {
		for name, text := range map[string]string{"stdout": stdout, "stderr": stderr, "error": err.Error()} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows a password:\n%s", name, text)
			}
		}
	}
}

// TestSecureApplyCopiesACLs applies a rename as admin with the authorizer
// on: the new topic gets the old topic's literal ACLs.
func TestSecureApplyCopiesACLs(t *testing.T) {
	s := kafkatest.NewSecure(t)
	ctx := context.Background()
	const src, dst = "secure.acl.old_name.v1", "secure.acl.new.name.v1"
	s.CreateTopic(t, src, 2, nil)
	cl := s.Admin(t)
	acls := []admin.ACL{
		{Principal: "User:reader", Host: "*", Operation: "READ", Permission: "ALLOW"},
		{Principal: "User:writer", Host: "*", Operation: "WRITE", Permission: "ALLOW"},
		{Principal: "User:intruder", Host: "*", Operation: "READ", Permission: "DENY"},
	}
	if err := cl.CreateACLs(ctx, src, acls); err != nil {
		t.Fatal(err)
	}
	waitForACLs(t, cl, src, len(acls))
	mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
	stateFile := filepath.Join(t.TempDir(), "s.db")
	out, _, err := run(t, "-b", s.Bootstrap, "--command-config", s.Properties("admin"), "--map", mapFile, "--state", stateFile, "apply", "--yes")
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	waitForACLs(t, cl, dst, len(acls))
	snap, err := cl.Describe(ctx, admin.DescribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aclSet(snap.Topics[dst].ACLs), aclSet(snap.Topics[src].ACLs); got != want {
		t.Errorf("ACLs of %s:\n%s\nwant those of %s:\n%s", dst, got, src, want)
	}
}

func aclSet(acls []admin.ACL) string {
	var lines []string
	for _, a := range acls {
		lines = append(lines, fmt.Sprintf("%s %s %s %s %s", a.Pattern, a.Principal, a.Host, a.Permission, a.Operation))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// resourceTransactionalID is librdkafka's RD_KAFKA_RESOURCE_TRANSACTIONAL_ID
// (Kafka's TRANSACTIONAL_ID resource), which confluent-kafka-go does not name.
const resourceTransactionalID = kafka.ResourceType(5)

// bridgeGrant is one ACL the bridge's principal needs, and why.
type bridgeGrant struct {
	Type    kafka.ResourceType
	Name    string
	Pattern kafka.ResourcePatternType
	Op      kafka.ACLOperation
	Why     string
}

// bridgeACLs is the least privilege of `migrator mirror` (exactly once)
// copying src to dst as group: runbooks/security.md lists the same.
func bridgeACLs(src, dst, group string) []bridgeGrant {
	return []bridgeGrant{
		{kafka.ResourceTopic, src, kafka.ResourcePatternTypeLiteral, kafka.ACLOperationRead, "consume the old topic (implies Describe: metadata, offsets)"},
		{kafka.ResourceTopic, src, kafka.ResourcePatternTypeLiteral, kafka.ACLOperationDescribeConfigs, "routes read both topics' configs"},
		{kafka.ResourceTopic, dst, kafka.ResourcePatternTypeLiteral, kafka.ACLOperationWrite, "produce to the new topic (implies Describe)"},
		{kafka.ResourceTopic, dst, kafka.ResourcePatternTypeLiteral, kafka.ACLOperationDescribeConfigs, "routes read the target's max.message.bytes"},
		{kafka.ResourceGroup, group, kafka.ResourcePatternTypeLiteral, kafka.ACLOperationRead, "join the group; commit offsets in the transaction"},
		{resourceTransactionalID, group + "-", kafka.ResourcePatternTypePrefixed, kafka.ACLOperationWrite, "the transactional producer <group>-<instance-id> (implies Describe)"},
	}
}

// grantACLs creates ALLOW bindings for principal and waits until the
// cluster lists them (the authorizer learns them asynchronously).
func grantACLs(t *testing.T, cl *admin.Client, principal string, grants []bridgeGrant) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var bindings kafka.ACLBindings
	for _, g := range grants {
		bindings = append(bindings, kafka.ACLBinding{Type: g.Type, Name: g.Name, ResourcePatternType: g.Pattern,
			Principal: principal, Host: "*", Operation: g.Op, PermissionType: kafka.ACLPermissionTypeAllow})
	}
	res, err := cl.Kafka().CreateACLs(ctx, bindings)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			t.Fatalf("create ACL %+v: %v", bindings[i], r.Error)
		}
	}
	filter := kafka.ACLBindingFilter{Type: kafka.ResourceAny, ResourcePatternType: kafka.ResourcePatternTypeAny,
		Principal: principal, Operation: kafka.ACLOperationAny, PermissionType: kafka.ACLPermissionTypeAny}
	for ctx.Err() == nil {
		got, err := cl.Kafka().DescribeACLs(ctx, filter)
		if err == nil && len(got.ACLBindings) == len(bindings) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the ACLs of %s never showed", principal)
}

// secureMirror runs `migrator mirror --until-caught-up` as user, bounded
// by limit, and returns its output and error.
func secureMirror(t *testing.T, s *kafkatest.Secure, user, mapFile string, limit time.Duration, extra ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	args := append([]string{"-b", s.Bootstrap, "--command-config", s.Properties(user), "--map", mapFile, "--timeout", "15s",
		"mirror", "--no-state", "--until-caught-up", "--refresh", "1s", "--instance-id", "secure"}, extra...)
	cmd := exec.CommandContext(ctx, migratorBinary(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("not done within %s: %w", limit, ctx.Err())
	}
	return out.String(), err
}

// TestSecureBridgeLeastPrivilege runs the bridge as the SCRAM user bridge
// with only bridgeACLs: it copies every record exactly once. It has no
// Create: the DLQ is not needed (no record is refused), so not created.
// At least once, the TransactionalId ACL is not needed either (the
// idempotent producer needs no IdempotentWrite on the cluster: Write on a
// topic is enough since Kafka 3.0).
//
// KAFKA_SECURE_PROVE_MINIMAL=1 also runs the bridge once without each of
// the ACLs in turn and expects it to fail (about 20 s each; not in CI).
func TestSecureBridgeLeastPrivilege(t *testing.T) {
	const src, dst, group, parts = "secure.bridge.old_name.v1", "secure.bridge.new.name.v1", "topic-migrator-bridge", 3
	mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
	setup := func(t *testing.T) (*kafkatest.Secure, *admin.Client) {
		s := kafkatest.NewSecure(t)
		s.CreateTopic(t, src, parts, nil)
		s.CreateTopic(t, dst, parts, nil)
		produceNumbered(t, s.Cluster, src, parts, 0, 200)
		return s, s.Admin(t)
	}
	grants := bridgeACLs(src, dst, group)

	s, cl := setup(t)
	grantACLs(t, cl, "User:bridge", grants)
	if out, err := secureMirror(t, s, "bridge", mapFile, 90*time.Second); err != nil {
		t.Fatalf("mirror as bridge: %v\n%s", err, out)
	}
	assertExactlyOnce(t, s.Cluster, src, dst, parts)
	topics, err := cl.DescribeTopics(context.Background(), []string{dst + ".dlq.v1"})
	if err != nil || len(topics) != 0 {
		t.Errorf("the DLQ was created (%v) though no record went to it", err)
	}

	// Without any ACL on the new topic, Kafka hides it from the bridge's
	// principal: the bridge says it is not authorized, not that the topic
	// is missing, and copies nothing.
	t.Run("target hidden", func(t *testing.T) {
		s, cl := setup(t)
		grantACLs(t, cl, "User:bridge", slices.DeleteFunc(slices.Clone(grants), func(g bridgeGrant) bool { return g.Name == dst }))
		out, err := secureMirror(t, s, "bridge", mapFile, 20*time.Second)
		if err == nil || !strings.Contains(out, "not authorized to describe topic") || !strings.Contains(out, "topic="+dst) {
			t.Fatalf("mirror without ACLs on %s: %v, want it to name the topic as not authorized\n%s", dst, err, out)
		}
		if strings.Contains(out, "topic="+src) {
			t.Errorf("the old topic, which the bridge may read, was reported unauthorized\n%s", out)
		}
		if got := s.ReadPartition(t, dst, 0); len(got) != 0 {
			t.Errorf("%d records copied without Write on %s", len(got), dst)
		}
	})

	t.Run("at-least-once", func(t *testing.T) {
		s, cl := setup(t)
		grantACLs(t, cl, "User:bridge", slices.DeleteFunc(slices.Clone(grants), func(g bridgeGrant) bool { return g.Type == resourceTransactionalID }))
		if out, err := secureMirror(t, s, "bridge", mapFile, 90*time.Second, "--delivery", "at-least-once"); err != nil {
			t.Fatalf("mirror as bridge, at least once: %v\n%s", err, out)
		}
		assertExactlyOnce(t, s.Cluster, src, dst, parts)
	})

	// A record the target cannot take goes to NEW.dlq.v1. Without Create,
	// the bridge cannot make that topic: it stops at once (no retry can
	// help) and says what to grant. Once an admin has created the DLQ and
	// granted Write on it, the bridge copies the rest and writes the dead
	// letter, still without Create.
	t.Run("dead letter", func(t *testing.T) {
		s := kafkatest.NewSecure(t)
		s.CreateTopic(t, src, 1, nil)
		s.CreateTopic(t, dst, 1, map[string]string{"max.message.bytes": "2048"})
		topic := src
		s.Produce(t, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte("small")},
			&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: bytes.Repeat([]byte("x"), 8192)})
		cl := s.Admin(t)
		grantACLs(t, cl, "User:bridge", grants)
		out, err := secureMirror(t, s, "bridge", mapFile, 25*time.Second)
		if err == nil || !strings.Contains(out, "create DLQ") || !strings.Contains(strings.ToLower(out), "authorization failed") ||
			!strings.Contains(out, "grant the bridge's principal Create on "+dst+".dlq.v1") {
			t.Fatalf("mirror without Create on the DLQ: %v, want it to stop at once on the refused create, saying what to grant\n%s", err, out)
		}
		if got := s.ReadPartition(t, dst, 0); len(got) != 0 {
			t.Errorf("%d records copied in the batch whose dead letter could not be written", len(got))
		}
		dlq := dst + ".dlq.v1"
		s.CreateTopic(t, dlq, 1, nil)
		grantACLs(t, cl, "User:bridge", append(append([]bridgeGrant(nil), grants...),
			bridgeGrant{kafka.ResourceTopic, dlq, kafka.ResourcePatternTypeLiteral, kafka.ACLOperationWrite, "dead letters"}))
		if out, err := secureMirror(t, s, "bridge", mapFile, 60*time.Second); err != nil {
			t.Fatalf("mirror with the DLQ made by an admin: %v\n%s", err, out)
		}
		if got := s.ReadPartition(t, dst, 0); len(got) != 1 || string(got[0].Value) != "small" {
			t.Errorf("%s holds %d records, want the small one", dst, len(got))
		}
		if got := s.ReadPartition(t, dlq, 0); len(got) != 1 {
			t.Errorf("%s holds %d dead letters, want 1", dlq, len(got))
		}
	})

	if os.Getenv("KAFKA_SECURE_PROVE_MINIMAL") != "1" {
		return
	}
	for i, missing := range grants {
		t.Run(fmt.Sprintf("without %s %s %s", missing.Op, missing.Type, missing.Name), func(t *testing.T) {
			s, cl := setup(t)
			grantACLs(t, cl, "User:bridge", append(append([]bridgeGrant(nil), grants[:i]...), grants[i+1:]...))
			out, err := secureMirror(t, s, "bridge", mapFile, 40*time.Second)
			if err == nil {
				t.Errorf("mirror succeeded without %s %s %s (%s)\n%s", missing.Op, missing.Type, missing.Name, missing.Why, out)
				return
			}
			t.Logf("fails as expected: %v\n%s", err, lastLines(out, 6))
		})
	}
}
