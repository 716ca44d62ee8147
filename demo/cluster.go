// Package demo is what `migrator demo` runs on: an embedded Kafka cluster
// (kfake, in process) seeded with HuleEdu's topics, a traffic generator
// writing HuleEdu event envelopes to them, and a consumer group that reads
// part of a topic, so that every migrator step has something real to act
// on without a Kafka installation.
package demo

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"

	topicmigrator "github.com/huleedu/topic-migrator"
	"github.com/huleedu/topic-migrator/admin"
)

// Cluster is an embedded Kafka cluster listening on localhost.
type Cluster struct {
	// Bootstrap is host:port of every broker, comma separated.
	Bootstrap string
	fake      *kfake.Cluster
}

// StartCluster starts an embedded cluster of brokers brokers on free
// localhost ports. Close it when done.
func StartCluster(brokers int) (*Cluster, error) {
	fc, err := kfake.NewCluster(kfake.NumBrokers(brokers))
	if err != nil {
		return nil, fmt.Errorf("start embedded cluster: %w", err)
	}
	return &Cluster{Bootstrap: strings.Join(fc.ListenAddrs(), ","), fake: fc}, nil
}

// Close stops every broker; clients still connected see it go away.
func (c *Cluster) Close() { c.fake.Close() }

// SeedOptions shape the seeded topics.
type SeedOptions struct {
	Partitions        int
	ReplicationFactor int
	// Configs are set on every topic.
	Configs map[string]string
}

// Seed creates HuleEdu's topics (the embedded fixture) in one request and
// waits until they are usable. It returns the topics in fixture order.
func Seed(ctx context.Context, cl *admin.Client, opts SeedOptions) ([]topicmigrator.EventTopic, error) {
	topics, err := topicmigrator.HuleEduTopics()
	if err != nil {
		return nil, err
	}
	specs := make([]admin.TopicSpec, len(topics))
	names := make([]string, len(topics))
	for i, et := range topics {
		specs[i] = admin.TopicSpec{Name: et.Topic, Partitions: opts.Partitions, ReplicationFactor: opts.ReplicationFactor, Configs: opts.Configs}
		names[i] = et.Topic
	}
	res, err := cl.CreateTopics(ctx, specs, false)
	if err != nil {
		return nil, fmt.Errorf("seed HuleEdu topics: %w", err)
	}
	var failed []string
	for _, err := range res {
		if err != nil {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return nil, fmt.Errorf("seed HuleEdu topics: %s", strings.Join(failed, "; "))
	}
	if err := cl.WaitForTopics(ctx, names, true); err != nil {
		return nil, fmt.Errorf("seed HuleEdu topics: %w", err)
	}
	return topics, nil
}
