package demo

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	topicmigrator "github.com/huleedu/topic-migrator"
	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/clientconfig"
	"github.com/huleedu/topic-migrator/plan"
)

func shippedMap(t *testing.T) *plan.RenameMap {
	t.Helper()
	m, err := plan.ParseRenameMap("rename-map.yaml", topicmigrator.RenameMapYAML)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEnvelopesFollowTheContracts builds an envelope for each of HuleEdu's
// 69 events and checks its fields, headers and partition key.
func TestEnvelopesFollowTheContracts(t *testing.T) {
	m := shippedMap(t)
	topics, err := topicmigrator.HuleEduTopics()
	if err != nil {
		t.Fatal(err)
	}
	g := NewGenerator(m, 1)
	for _, et := range topics {
		for _, topic := range []string{et.Topic, m.NewName(et.Topic)} {
			r, err := g.Record(et, topic, time.Now())
			if err != nil {
				t.Fatalf("%s: %v", et.Event, err)
			}
			var env Envelope
			if err := json.Unmarshal(r.Value, &env); err != nil {
				t.Fatal(err)
			}
			if env.EventID == "" || env.CorrelationID == "" || env.EventType != topic || env.SourceService == "" || len(env.Data) == 0 {
				t.Errorf("%s: envelope %s", et.Event, r.Value)
			}
			e, ok := bridge.ParseEnvelope(r.Value)
			if !ok || e.EventID != env.EventID {
				t.Errorf("%s: the bridge does not read the envelope", et.Event)
			}
			if len(r.Headers) != 6 || r.Headers[0].Key != bridge.HeaderCorrelationID || string(r.Headers[0].Value) != env.CorrelationID {
				t.Errorf("%s: headers %v", et.Event, r.Headers)
			}
			if paths := KeyPaths(m, topic); paths != nil {
				var doc map[string]any
				_ = json.Unmarshal(r.Value, &doc)
				if want, _ := lookup(doc, paths[0]); string(r.Key) != want || want == "" {
					t.Errorf("%s on %s: key %q, want %s = %q", et.Event, topic, r.Key, paths[0], want)
				}
			} else if r.Key != nil {
				t.Errorf("%s on %s: key %q without a contract", et.Event, topic, r.Key)
			}
		}
	}
	// The seed's llm.provider contract never applies; the old names take
	// the llm contract of their new names.
	if got := KeyPaths(m, "huleedu.llm_provider.request_started.v1"); len(got) == 0 || got[0] != "data.request_id" {
		t.Errorf("key paths of an old LLM topic = %v", got)
	}
	if got := KeyPaths(m, "huleedu.commands.batch.pipeline.v1"); len(got) != 1 || got[0] != "correlation_id" {
		t.Errorf("key paths of the commands topic = %v", got)
	}
}

// TestClusterTrafficAndGroup seeds a 3-broker embedded cluster, writes a
// backlog and lets a group read half of a topic.
func TestClusterTrafficAndGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := StartCluster(3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := clientconfig.Config{BootstrapServers: c.Bootstrap, Timeout: 10 * time.Second}
	cl, err := admin.Connect(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	info, err := cl.DescribeCluster(ctx)
	if err != nil || len(info.Brokers) != 3 {
		t.Fatalf("brokers: %+v, %v", info, err)
	}
	topics, err := Seed(ctx, cl, SeedOptions{Partitions: 3, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(topics) != 69 {
		t.Fatalf("seeded %d topics", len(topics))
	}
	tr, err := NewTraffic(TrafficOptions{Client: cfg, Map: shippedMap(t), Topics: topics, Interval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Backlog(ctx, 10); err != nil {
		t.Fatal(err)
	}
	const topic = "huleedu.els.spellcheck.initiate.command.v1"
	if n := tr.Written(topic); n != 10 {
		t.Fatalf("%d records acknowledged on %s, want 10", n, topic)
	}
	tr.Start()
	time.Sleep(100 * time.Millisecond)
	if err := tr.Pause(ctx, topic); err != nil {
		t.Fatal(err)
	}
	paused := tr.Written(topic)
	time.Sleep(600 * time.Millisecond) // More than a full round of the 69 topics.
	if n := tr.Written(topic); n != paused {
		t.Errorf("written to a paused topic: %d → %d", paused, n)
	}
	const renamed = "huleedu.batch.spellcheck.initiate.command.v1"
	if _, err := cl.CreateTopics(ctx, []admin.TopicSpec{{Name: renamed, Partitions: 3, ReplicationFactor: 3}}, false); err != nil {
		t.Fatal(err)
	}
	tr.Redirect(topic, renamed)
	time.Sleep(600 * time.Millisecond)
	if tr.Written(renamed) == 0 {
		t.Error("nothing written to the new name after Redirect")
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}

	committed, processed, err := ConsumePart(ctx, cfg, "demo-group", topic)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, o := range committed {
		sum += o
	}
	if int64(processed) != sum || sum == 0 || sum >= paused {
		t.Errorf("processed %d, committed %v of %d records", processed, committed, paused)
	}
	got, err := cl.GroupOffsets(ctx, "demo-group")
	if err != nil {
		t.Fatal(err)
	}
	for p, o := range committed {
		if got[topic][p] != o {
			t.Errorf("partition %d: committed %d, want %d", p, got[topic][p], o)
		}
	}
}
