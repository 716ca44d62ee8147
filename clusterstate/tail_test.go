package clusterstate

import (
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/huleedu/topic-migrator/kafkatest"
)

// TestReadWaitsForALeader: a read of the state topic asks for its end
// offset again while the broker answers that the partition has no leader
// yet (Kafka 4.4 did, right after the state topics were created: "Not
// leader for partition"), instead of failing the command.
func TestReadWaitsForALeader(t *testing.T) {
	kc := kafkatest.NewFake(t)
	c := openCluster(t, kc, alice)
	var refused atomic.Int32
	kc.Fake.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.Fake.KeepControl()
		r := req.(*kmsg.ListOffsetsRequest)
		if refused.Load() >= 3 || len(r.Topics) != 1 || r.Topics[0].Topic != DefaultStateTopic {
			return nil, nil, false
		}
		refused.Add(1)
		resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	if _, _, err := c.Snapshot(testCtx(t)); err != nil {
		t.Fatalf("Snapshot while the state topic's leader is not known yet: %v", err)
	}
	if refused.Load() == 0 {
		t.Fatal("the broker was never asked for the state topic's end offset")
	}
}
