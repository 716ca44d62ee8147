package kafkatest

import (
	"context"
	"testing"
	"time"

	topicmigrator "github.com/huleedu/topic-migrator"
	"github.com/huleedu/topic-migrator/admin"
)

// HuleEduTopics returns HuleEdu's 69 real topics from
// testdata/huleedu-topics.tsv, event → topic, in file order.
func HuleEduTopics(t testing.TB) [][2]string {
	t.Helper()
	topics, err := topicmigrator.HuleEduTopics()
	if err != nil {
		t.Fatalf("HuleEdu fixture: %v", err)
	}
	out := make([][2]string, len(topics))
	for i, et := range topics {
		out[i] = [2]string{et.Event, et.Topic}
	}
	return out
}

// SeedHuleEdu creates HuleEdu's 69 topics in one request, each with
// partitions partitions and a 7-day retention.
func (c *Cluster) SeedHuleEdu(t testing.TB, partitions int) {
	t.Helper()
	var specs []admin.TopicSpec
	for _, et := range HuleEduTopics(t) {
		specs = append(specs, admin.TopicSpec{Name: et[1], Partitions: partitions, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "604800000"}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := c.Admin(t).CreateTopics(ctx, specs, false)
	if err != nil {
		t.Fatalf("seed HuleEdu topics: %v", err)
	}
	var names []string
	for name, err := range res {
		if err != nil {
			t.Fatalf("seed HuleEdu topic %s: %v", name, err)
		}
		names = append(names, name)
	}
	if err := c.Admin(t).WaitForTopics(ctx, names, true); err != nil {
		t.Fatal(err)
	}
}
