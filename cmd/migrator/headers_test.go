package main

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/kafkatest"
)

// TestMirrorHeaderModes: a copy is faithful by default (the source's
// headers, byte for byte and in order, plus X-Migrator-Origin); a rename
// with `headers: enrich` also gets the standard headers its records lack;
// mirror --enrich-headers=false and --enrich-headers override the map for
// every rename.
func TestMirrorHeaderModes(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const plain, rich = "hdr.plain_src.v1", "hdr.rich_src.v1"
		for _, topic := range []string{plain, rich} {
			c.CreateTopic(t, topic, 1, nil)
			var msgs []*kafka.Message
			for i := 0; i < 5; i++ {
				m := &kafka.Message{
					TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0},
					Key:            []byte(fmt.Sprint("k", i)),
					Value:          []byte(fmt.Sprintf(`{"event_id":"e-%d","correlation_id":"c-%d"}`, i, i)),
				}
				if i%2 == 0 {
					// A header the source has already, a duplicate, a
					// binary value: all kept as they are.
					m.Headers = []kafka.Header{{Key: "seq", Value: []byte{0, byte(i)}}, {Key: bridge.HeaderCorrelationID, Value: []byte("given")}, {Key: "seq", Value: []byte("again")}}
				}
				msgs = append(msgs, m)
			}
			c.Produce(t, msgs...)
		}
		faithful := bridge.HeaderPolicy{}
		enriched := bridge.HeaderPolicy{Enrich: true}
		cases := []struct {
			name        string
			flags       []string
			plain, rich bridge.HeaderPolicy
		}{
			{"as the map says", nil, faithful, enriched},
			{"--enrich-headers=false", []string{"--enrich-headers=false"}, faithful, faithful},
			{"--enrich-headers", []string{"--enrich-headers"}, enriched, enriched},
		}
		for i, tc := range cases {
			plainTo, richTo := fmt.Sprintf("hdr.plain.copy%d.v1", i), fmt.Sprintf("hdr.rich.copy%d.v1", i)
			c.CreateTopic(t, plainTo, 1, nil)
			c.CreateTopic(t, richTo, 1, nil)
			mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n  - {from: %s, to: %s, headers: enrich}\n", plain, plainTo, rich, richTo))
			args := append([]string{"-b", c.Bootstrap, "--map", mapFile, "mirror", "--no-state", "--until-caught-up", "--group", fmt.Sprint("hdr-", i)}, tc.flags...)
			if _, _, err := run(t, args...); err != nil {
				t.Fatalf("%s: mirror: %v", tc.name, err)
			}
			for _, pair := range []struct {
				from, to string
				policy   bridge.HeaderPolicy
			}{{plain, plainTo, tc.plain}, {rich, richTo, tc.rich}} {
				src, dst := c.ReadPartition(t, pair.from, 0), c.ReadPartition(t, pair.to, 0)
				if len(dst) != len(src) {
					t.Fatalf("%s: %s holds %d copies of %d records", tc.name, pair.to, len(dst), len(src))
				}
				for j, m := range src {
					want := pair.policy.CopyHeaders(m, bridge.Origin{Topic: pair.from, Partition: 0, Offset: int64(m.TopicPartition.Offset)})
					if !pair.policy.Enrich {
						// Spelled out, not derived: the source's headers, then the origin.
						want = append(append([]kafka.Header{}, m.Headers...), kafka.Header{Key: bridge.HeaderOrigin, Value: []byte(fmt.Sprintf("%s/0/%d", pair.from, m.TopicPartition.Offset))})
					} else if len(want) <= len(m.Headers)+1 {
						t.Fatalf("%s: enrich adds nothing to record %d of %s: the test proves nothing", tc.name, j, pair.from)
					}
					if got := dst[j].Headers; !sameHeaders(got, want) {
						t.Errorf("%s: copy %d of %s in %s has headers\n%v\nwant\n%v", tc.name, j, pair.from, pair.to, got, want)
					}
					if !bytes.Equal(dst[j].Value, m.Value) || !bytes.Equal(dst[j].Key, m.Key) {
						t.Errorf("%s: copy %d of %s differs in key or value", tc.name, j, pair.from)
					}
				}
			}
		}
	})
}

// sameHeaders compares headers in order, keys and values byte for byte.
func sameHeaders(a, b []kafka.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}
