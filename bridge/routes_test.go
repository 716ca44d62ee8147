package bridge_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/kafkatest"
)

// switchingRoutes serves one route set until told to serve another.
type switchingRoutes struct {
	first, then []bridge.Route
	switched    atomic.Bool
}

func (s *switchingRoutes) Routes(context.Context) ([]bridge.Route, error) {
	if s.switched.Load() {
		return s.then, nil
	}
	return s.first, nil
}

// lagTopics returns the topics that have migrator_bridge_lag_records series.
func lagTopics(t *testing.T, reg *prometheus.Registry) map[string]bool {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	topics := map[string]bool{}
	for _, f := range families {
		if f.GetName() != "migrator_bridge_lag_records" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "topic" {
					topics[l.GetValue()] = true
				}
			}
		}
	}
	return topics
}

// TestLagSeriesOfDroppedPartitionsGo checks that a partition the bridge no
// longer copies loses its lag series, so alerts do not see a stale value.
func TestLagSeriesOfDroppedPartitionsGo(t *testing.T) {
	c := kafkatest.NewFake(t)
	for _, name := range []string{"lag.a", "lag.a.new", "lag.b", "lag.b.new"} {
		c.CreateTopic(t, name, 1, nil)
	}
	for _, topic := range []string{"lag.a", "lag.b"} {
		c.Produce(t, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte("v")})
	}
	routes := &switchingRoutes{first: []bridge.Route{route("lag.a", "lag.a.new", 1)}, then: []bridge.Route{route("lag.b", "lag.b.new", 1)}}
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- bridge.Run(ctx, bridge.Options{
			Client: c.Config(), Group: "lag-series-test", InstanceID: "test-1", Routes: routes, Refresh: 100 * time.Millisecond,
			Admin: c.Admin(t), Metrics: bridge.NewMetrics(reg), Log: slog.New(slog.NewTextHandler(t.Output(), nil)),
		})
	}()
	waitFor := func(what string, ok func(map[string]bool) bool) {
		t.Helper()
		for ctx.Err() == nil {
			if ok(lagTopics(t, reg)) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s; lag series of %v", what, lagTopics(t, reg))
	}
	waitFor("lag.a's lag series", func(m map[string]bool) bool { return m["lag.a"] })
	routes.switched.Store(true)
	waitFor("lag.b's series and lag.a's gone", func(m map[string]bool) bool { return m["lag.b"] && !m["lag.a"] })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("bridge: %v", err)
	}
}
