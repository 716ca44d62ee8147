package lifecycle_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// TestWindowEndMetric checks that a bridge reading the state file exports
// each copied rename's window end (phase created + the map's window), and
// only for renames it copies.
func TestWindowEndMetric(t *testing.T) {
	ctx := context.Background()
	c := kafkatest.NewFake(t)
	for _, name := range []string{"old.a", "new.a", "old.b", "new.b"} {
		c.CreateTopic(t, name, 2, nil)
	}
	dir := t.TempDir()
	mapPath := filepath.Join(dir, "rename-map.yaml")
	mapYAML := "version: 1\nwindow: 10d\nrenames:\n  - {from: old.a, to: new.a}\n  - {from: old.b, to: new.b}\n"
	if err := os.WriteFile(mapPath, []byte(mapYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := plan.LoadRenameMap(mapPath)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st, err := state.Open(filepath.Join(dir, "migrator.db"), state.Options{Now: func() time.Time { return created }})
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"old.a", "old.b"} {
		if _, err := st.EnsureRename(ctx, from, "new"+from[3:], "dual"); err != nil {
			t.Fatal(err)
		}
	}
	// Only old.a is created; old.b stays planned, so it is not copied.
	if _, err := st.Transition(ctx, "old.a", state.PhaseCreated, "test", state.AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	wantEnd := created.Add(10 * 24 * time.Hour)

	routes := &lifecycle.MapRoutes{Map: m, Admin: c.Admin(t), Store: st}
	got, err := routes.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Rename != "old.a" || !got[0].WindowEnd.Equal(wantEnd) {
		t.Fatalf("routes = %+v, want one for old.a with window end %v", got, wantEnd)
	}
	reverse, err := (&lifecycle.MapRoutes{Map: m, Admin: c.Admin(t), Store: st, Reverse: true}).Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(reverse) != 1 || !reverse[0].WindowEnd.IsZero() {
		t.Errorf("reverse routes = %+v, want one without a window end", reverse)
	}

	topic := "old.a"
	c.Produce(t, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte("v")})
	reg := prometheus.NewRegistry()
	metrics := bridge.NewMetrics(reg)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = bridge.Run(rctx, bridge.Options{
		Client: c.Config(), Group: "window-test", InstanceID: "test-1", Routes: routes, UntilCaughtUp: true,
		Admin: c.Admin(t), Metrics: metrics, Log: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatalf("bridge: %v", err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "migrator_rename_window_end_timestamp_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "rename" {
					series[l.GetValue()] = s.GetGauge().GetValue()
				}
			}
		}
	}
	if len(series) != 1 || series["old.a"] != float64(wantEnd.Unix()) {
		t.Errorf("window end series = %v, want only old.a = %d", series, wantEnd.Unix())
	}
}
