// Package kafkatest gives tests a Kafka cluster: an in-process kfake
// cluster always, and the real Apache Kafka broker started by
// scripts/kafka-up.sh when KAFKA_BOOTSTRAP_SERVERS is set. Run runs one test
// body against both, so every Kafka-facing test checks real Kafka semantics
// as well as the fast fake.
package kafkatest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/clientconfig"
)

// Environment variables the harness reads.
const (
	// EnvBootstrap names the real broker to test against.
	EnvBootstrap = "KAFKA_BOOTSTRAP_SERVERS"
	// EnvRequireReal makes a missing real broker a test failure instead of a
	// skip; `make test` sets it so that CI cannot pass without real Kafka.
	EnvRequireReal = "KAFKA_REQUIRE_REAL"
)

// Kind says which implementation a Cluster is.
type Kind string

const (
	// Fake is kfake, in process.
	Fake Kind = "kfake"
	// Real is an Apache Kafka broker.
	Real Kind = "kafka"
)

// Cluster is a Kafka cluster a test may use freely: a fresh kfake cluster,
// or the real broker emptied of every topic and group before the test.
type Cluster struct {
	Kind      Kind
	Bootstrap string
	// Fake is the kfake cluster when Kind is Fake.
	Fake *kfake.Cluster
	// props are client settings (security) every client of the cluster
	// uses; nil for a plaintext cluster.
	props *clientconfig.Properties
}

// Run runs body as two subtests, "kfake" and "kafka". The real-Kafka
// subtest is skipped when KAFKA_BOOTSTRAP_SERVERS is unset, and fails
// instead when KAFKA_REQUIRE_REAL=1. Tests using the real broker must not
// call t.Parallel: they share one broker that is reset for each of them.
func Run(t *testing.T, body func(t *testing.T, c *Cluster)) {
	t.Helper()
	t.Run(string(Fake), func(t *testing.T) { body(t, NewFake(t)) })
	t.Run(string(Real), func(t *testing.T) { body(t, NewReal(t)) })
}

// NewFake starts an in-process kfake cluster, closed when the test ends.
func NewFake(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)
	fc, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(fc.Close)
	return &Cluster{Kind: Fake, Bootstrap: strings.Join(fc.ListenAddrs(), ","), Fake: fc}
}

// NewReal returns the real broker named by KAFKA_BOOTSTRAP_SERVERS after
// deleting every topic, consumer group and ACL on it, so that the test
// starts on an empty cluster.
func NewReal(t testing.TB) *Cluster {
	t.Helper()
	bootstrap := os.Getenv(EnvBootstrap)
	if bootstrap == "" {
		if os.Getenv(EnvRequireReal) == "1" {
			t.Fatalf("%s is not set but %s=1: start a broker with scripts/kafka-up.sh", EnvBootstrap, EnvRequireReal)
		}
		t.Skipf("real Kafka: %s is not set (make test starts a broker)", EnvBootstrap)
	}
	c := &Cluster{Kind: Real, Bootstrap: bootstrap}
	c.reset(t)
	return c
}

// Config returns a client config for the cluster.
func (c *Cluster) Config() clientconfig.Config {
	return clientconfig.Config{BootstrapServers: c.Bootstrap, Properties: c.props, Timeout: 30 * time.Second}
}

// Admin connects an admin client, closed when the test ends.
func (c *Cluster) Admin(t testing.TB) *admin.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := admin.Connect(ctx, c.Config(), nil)
	if err != nil {
		t.Fatalf("connect to %s (%s): %v", c.Kind, c.Bootstrap, err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// ConfigMap returns librdkafka settings for the cluster plus extra.
func (c *Cluster) ConfigMap(extra kafka.ConfigMap) *kafka.ConfigMap {
	m := kafka.ConfigMap{"bootstrap.servers": c.Bootstrap, "log_level": 3}
	if c.props != nil {
		var err error
		if m, err = c.Config().ConfigMap(kafka.ConfigMap{"log_level": 3}); err != nil {
			panic(err) // the harness's own properties file: a bug, not a test failure
		}
	}
	for k, v := range extra {
		m[k] = v
	}
	return &m
}

// internalTopic reports whether Kafka owns the topic.
func internalTopic(name string) bool { return strings.HasPrefix(name, "__") }

// EnvAllowWipe, set to 1, lets the tests wipe a cluster that
// scripts/kafka-up.sh did not start.
const EnvAllowWipe = "KAFKA_TEST_ALLOW_WIPE"

// testClusterIDPrefix starts the cluster id of every cluster
// scripts/kafka-up.sh formats: the base64 of the bytes "tmig-t", followed
// by random ones. It marks a cluster the tests started, and may wipe.
const testClusterIDPrefix = "dG1pZy10"

// mayWipe refuses a cluster the tests did not start: reset deletes every
// topic, group and ACL, and a KAFKA_BOOTSTRAP_SERVERS left in a shell
// (a common variable in Kafka shops) must never cost anyone a cluster.
func mayWipe(ctx context.Context, cl *admin.Client) error {
	if os.Getenv(EnvAllowWipe) == "1" {
		return nil
	}
	info, err := cl.DescribeCluster(ctx)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(info.ClusterID, testClusterIDPrefix) {
		return fmt.Errorf("refusing to wipe cluster %s: it was not started by scripts/kafka-up.sh (its cluster id does not start with %s), and the tests delete every topic, group and ACL of the cluster they run on. Unset %s to run against kfake only, start a test broker with scripts/kafka-up.sh, or set %s=1 to wipe this cluster",
			info.ClusterID, testClusterIDPrefix, EnvBootstrap, EnvAllowWipe)
	}
	return nil
}

// reset deletes every non-internal topic, every consumer group and every
// ACL (when the broker has an authorizer), after checking that the
// cluster is one the tests started (mayWipe).
func (c *Cluster) reset(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := admin.Connect(ctx, c.Config(), nil)
	if err != nil {
		t.Fatalf("real Kafka at %s: %v", c.Bootstrap, err)
	}
	defer cl.Close()
	if err := mayWipe(ctx, cl); err != nil {
		t.Fatalf("real Kafka at %s: %v", c.Bootstrap, err)
	}
	ka := cl.Kafka()

	// A group with a static member left by an earlier test can only be
	// deleted once that member's session has timed out.
	for {
		groups, err := ka.ListConsumerGroups(ctx)
		if err != nil {
			t.Fatalf("reset: list groups: %v", err)
		}
		var ids []string
		for _, g := range groups.Valid {
			ids = append(ids, g.GroupID)
		}
		if len(ids) == 0 {
			break
		}
		res, err := ka.DeleteConsumerGroups(ctx, ids)
		if err != nil {
			t.Fatalf("reset: delete groups %v: %v", ids, err)
		}
		var left []string
		for _, r := range res.ConsumerGroupResults {
			if r.Error.Code() != kafka.ErrNoError && r.Error.Code() != kafka.ErrGroupIDNotFound {
				left = append(left, r.Group)
			}
		}
		if len(left) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("reset: groups %v still have members", left)
		case <-time.After(500 * time.Millisecond):
		}
	}

	acls, err := ka.DeleteACLs(ctx, kafka.ACLBindingFilters{{
		Type: kafka.ResourceAny, ResourcePatternType: kafka.ResourcePatternTypeAny,
		Operation: kafka.ACLOperationAny, PermissionType: kafka.ACLPermissionTypeAny,
	}})
	if err != nil {
		t.Fatalf("reset: delete ACLs: %v", err)
	}
	if code := acls[0].Error.Code(); code != kafka.ErrNoError && code != kafka.ErrSecurityDisabled {
		t.Fatalf("reset: delete ACLs: %v", acls[0].Error)
	}

	topics, err := c.topics(ka)
	if err != nil {
		t.Fatalf("reset: %v", err)
	}
	if len(topics) == 0 {
		return
	}
	res, err := ka.DeleteTopics(ctx, topics)
	if err != nil {
		t.Fatalf("reset: delete topics: %v", err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError && r.Error.Code() != kafka.ErrUnknownTopicOrPart {
			t.Fatalf("reset: delete topic %q: %v", r.Topic, r.Error)
		}
	}
	// Wait until the metadata no longer lists them, so that the test can
	// create topics of the same (or colliding) names.
	for {
		left, err := c.topics(ka)
		if err != nil {
			t.Fatalf("reset: %v", err)
		}
		if len(left) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("reset: topics still present after delete: %v", left)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) topics(ka *kafka.AdminClient) ([]string, error) {
	md, err := ka.GetMetadata(nil, true, 10000)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	var out []string
	for name := range md.Topics {
		if !internalTopic(name) {
			out = append(out, name)
		}
	}
	return out, nil
}
