package bridge

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the bridge's Prometheus metrics.
type Metrics struct {
	Records        *prometheus.CounterVec
	Bytes          *prometheus.CounterVec
	Skipped        *prometheus.CounterVec
	DeadLetters    *prometheus.CounterVec
	LagRecords     *prometheus.GaugeVec
	LagSeconds     *prometheus.GaugeVec
	Transactions   *prometheus.CounterVec
	TxnLatency     prometheus.Histogram
	Rebalances     prometheus.Counter
	AssignedTopics prometheus.Gauge
	// WindowEnd is, per rename, when its transition window ends (Unix
	// seconds). Only renames whose window start the bridge can read (it
	// runs with the state file) have a value.
	WindowEnd *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Records:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "migrator_bridge_records_total", Help: "Records copied to the new topic."}, []string{"rename"}),
		Bytes:          prometheus.NewCounterVec(prometheus.CounterOpts{Name: "migrator_bridge_bytes_total", Help: "Key and value bytes copied to the new topic."}, []string{"rename"}),
		Skipped:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "migrator_bridge_skipped_total", Help: "Records not copied because they came from the destination (loop prevention)."}, []string{"rename"}),
		DeadLetters:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "migrator_bridge_dead_letters_total", Help: "Records the target refused for good, written to its DLQ."}, []string{"rename", "error"}),
		LagRecords:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "migrator_bridge_lag_records", Help: "Records in the source partition not yet copied."}, []string{"topic", "partition"}),
		LagSeconds:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "migrator_bridge_lag_seconds", Help: "Age of the newest copied record when the partition is behind; 0 when caught up."}, []string{"topic", "partition"}),
		Transactions:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "migrator_bridge_transactions_total", Help: "Transactions (batches) by outcome: committed or aborted."}, []string{"outcome"}),
		TxnLatency:     prometheus.NewHistogram(prometheus.HistogramOpts{Name: "migrator_bridge_transaction_seconds", Help: "Time from the start of a batch's transaction to its commit.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		Rebalances:     prometheus.NewCounter(prometheus.CounterOpts{Name: "migrator_bridge_rebalances_total", Help: "Partition assignments and revocations."}),
		AssignedTopics: prometheus.NewGauge(prometheus.GaugeOpts{Name: "migrator_bridge_routes", Help: "Routes (source topics) the bridge copies."}),
		WindowEnd:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "migrator_rename_window_end_timestamp_seconds", Help: "When the rename's transition window ends (phase created + the map's window), for renames the bridge copies; only with a state file."}, []string{"rename"}),
	}
	if reg != nil {
		reg.MustRegister(m.Records, m.Bytes, m.Skipped, m.DeadLetters, m.LagRecords, m.LagSeconds, m.Transactions, m.TxnLatency, m.Rebalances, m.AssignedTopics, m.WindowEnd)
	}
	return m
}

// setRoutes records the routes the bridge copies now: their number and the
// window end of each that knows it. Renames no longer copied (retired,
// rolled back) lose their window series.
func (m *Metrics) setRoutes(routes map[string]Route) {
	m.AssignedTopics.Set(float64(len(routes)))
	m.WindowEnd.Reset()
	for _, r := range routes {
		if !r.WindowEnd.IsZero() {
			m.WindowEnd.WithLabelValues(r.Rename).Set(float64(r.WindowEnd.Unix()))
		}
	}
}

// forgetPartition removes the lag series of a partition this process no
// longer copies, so that its last value does not linger next to the new
// owner's.
func (m *Metrics) forgetPartition(k partitionKey) {
	part := strconv.Itoa(int(k.partition))
	m.LagRecords.DeleteLabelValues(k.topic, part)
	m.LagSeconds.DeleteLabelValues(k.topic, part)
}
