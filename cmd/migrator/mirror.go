package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
)

func mirrorCommand() *cli.Command {
	return &cli.Command{
		Name:  "mirror",
		Usage: "copy every old topic to its new topic, exactly once, for the transition window",
		Description: "Runs until stopped (SIGINT/SIGTERM: the open batch is finished or aborted, offsets committed).\n" +
			"What to copy comes from the map and the cluster: every rename whose source and target (for a swap:\n" +
			"its staging topic) exist and, when the state file exists, whose phase is created or later and not\n" +
			"retired. N processes with the same --group share the partitions.",
		UsageText: "migrator -b kafka:9092 mirror --metrics-addr :9464\n" +
			"migrator -b kafka:9092 mirror --until-caught-up              # copy the backlog and exit 0\n" +
			"migrator -b kafka:9092 mirror --delivery at-least-once       # no transactions (no TransactionalId ACL); a crash may copy a batch twice\n" +
			"migrator -b kafka:9092 mirror --reverse --rename OLD         # new → old, for a rollback after producers moved",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "group", Value: bridge.DefaultGroup, Usage: "consumer group the bridge processes share"},
			&cli.StringFlag{Name: "instance-id", Usage: "this process's id within the group; names its transactional producer (default: hostname)"},
			&cli.StringFlag{Name: "delivery", Value: string(bridge.ExactlyOnce), Usage: "exactly-once or at-least-once"},
			&cli.BoolFlag{Name: "enrich-headers", Usage: "add the six standard X-* headers a record lacks on every rename (=false: on none); when not given, the headers field of each rename in the map decides (default faithful: the source's headers plus X-Migrator-Origin)"},
			&cli.StringFlag{Name: "max-retries", Value: "3", Usage: "value of the X-Max-Retries header the bridge adds"},
			&cli.StringFlag{Name: "backoff-ms", Value: "1000,5000,15000", Usage: "value of the X-Backoff-Ms header the bridge adds"},
			&cli.StringFlag{Name: "partitioner", Value: "murmur2_random", Usage: "re-partitioning by key when a target has more partitions: murmur2_random (Java clients) or consistent_random (librdkafka)"},
			&cli.StringSliceFlag{Name: "rename", Usage: "mirror only the rename from this `TOPIC` (repeatable)"},
			&cli.BoolFlag{Name: "reverse", Usage: "copy new → old (records that came from the old topic are skipped, so both directions can run)"},
			&cli.BoolFlag{Name: "until-caught-up", Usage: "exit 0 once every assigned partition reached the end it had when assigned (its high watermark: records behind a transaction still open are waited for, not skipped)"},
			&cli.BoolFlag{Name: "no-state", Usage: "ignore the state file even if it exists: routes from map and cluster only"},
			&cli.StringFlag{Name: "metrics-addr", Usage: "serve /metrics, /healthz and /readyz on `ADDR` (e.g. :9464)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
			&cli.DurationFlag{Name: "shutdown-timeout", Value: 30 * time.Second, Usage: "bound on finishing the open batch when stopping"},
			&cli.DurationFlag{Name: "refresh", Value: 30 * time.Second, Usage: "how often the routes are re-read"},
			&cli.DurationFlag{Name: "transaction-timeout", Value: 60 * time.Second, Usage: "exactly-once: the broker aborts a transaction open this long; a client call blocked 15s past it ends the bridge (exit 1) for its supervisor to restart"},
			&cli.IntFlag{Name: "batch-records", Value: 20000, Usage: "records polled per batch at most, shared by the lanes (each lane's share is one transaction)"},
			&cli.IntFlag{Name: "batch-bytes", Value: 8 << 20, Usage: "bytes polled per batch at most, shared by the lanes (bounds memory)"},
			&cli.IntFlag{Name: "lanes", EnvVars: []string{"MIGRATOR_LANES"}, Usage: "producers copying side by side, each owning a share of the assigned partitions and committing its own transactions (0: one per core, at least 2, at most 8)"},
		},
		Action: func(c *cli.Context) error {
			log, err := mirrorLogger(c)
			if err != nil {
				return err
			}
			m, err := plan.LoadRenameMap(c.Path(flagMap))
			if err != nil {
				return err
			}
			partitioner, err := bridge.PartitionerByName(c.String("partitioner"))
			if err != nil {
				return err
			}
			cfg, err := clientConfig(c)
			if err != nil {
				return err
			}
			cl, err := connect(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			routes := &lifecycle.MapRoutes{Map: m, Admin: cl, Only: c.StringSlice("rename"), Reverse: c.Bool("reverse"), Command: commandLine(c), Log: log}
			if c.IsSet("enrich-headers") {
				routes.Headers = plan.HeadersFaithful
				if c.Bool("enrich-headers") {
					routes.Headers = plan.HeadersEnrich
				}
			}
			cluster, err := onCluster(c)
			if err != nil {
				return err
			}
			switch path := c.Path(flagState); {
			case c.Bool("no-state"):
			case cluster:
				// The cluster's state, cached in a file of the bridge's own
				// (no shared volume); phase mirroring is recorded under the
				// rename's lease.
				if routes.Store, err = openState(c); err != nil {
					return err
				}
				stopSync, err := syncRoutesWithCluster(c, routes)
				if err != nil {
					return err
				}
				defer stopSync()
			case fileExists(path):
				if routes.Store, err = openState(c); err != nil {
					return err
				}
			default:
				log.Info(noState(path) + ": copying every rename of the map whose topics both exist")
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			var ready atomic.Bool
			if addr := c.String("metrics-addr"); addr != "" {
				stop, err := serveMetrics(c.Context, addr, reg, &ready, log)
				if err != nil {
					return err
				}
				defer stop()
			}
			if c.Int("lanes") < 0 {
				return fmt.Errorf("--lanes %d: want 0 (automatic) or more", c.Int("lanes"))
			}
			setMemoryLimit(c.Int("batch-bytes"), log)
			if c.String("delivery") == string(bridge.AtLeastOnce) {
				log.Warn("delivery at-least-once: a crash between producing and committing copies that batch again (duplicates in the new topic)")
			}
			var progress func(done, total int64)
			if c.Bool("until-caught-up") {
				show, stop := showProgress(c)
				last := lifecycle.ProgressUpdate{Task: "mirror until caught up", Unit: "records"}
				defer func() { last.Finished = true; show(last); stop() }()
				progress = func(done, total int64) { last.Done, last.Total = done, total; show(last) }
			}
			return bridge.Run(c.Context, bridge.Options{
				Client:             cfg,
				Group:              c.String("group"),
				InstanceID:         c.String("instance-id"),
				Delivery:           bridge.Delivery(c.String("delivery")),
				Headers:            bridge.HeaderPolicy{MaxRetries: c.String("max-retries"), BackoffMs: c.String("backoff-ms")},
				Partitioner:        partitioner,
				Routes:             routes,
				Refresh:            c.Duration("refresh"),
				MaxBatchRecords:    c.Int("batch-records"),
				MaxBatchBytes:      c.Int("batch-bytes"),
				Lanes:              c.Int("lanes"),
				UntilCaughtUp:      c.Bool("until-caught-up"),
				ShutdownTimeout:    c.Duration("shutdown-timeout"),
				TransactionTimeout: c.Duration("transaction-timeout"),
				Metrics:            bridge.NewMetrics(reg),
				Log:                log,
				Admin:              cl,
				OnReady:            func() { ready.Store(true) },
				Progress:           progress,
			})
		},
	}
}

// setMemoryLimit sets a soft memory limit for the Go heap of about twelve
// batches (at least 160 MiB) unless GOMEMLIMIT is set: the copies the
// lanes hold are short-lived, and without a limit the heap grows to twice
// its live size before the collector runs.
func setMemoryLimit(batchBytes int, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if batchBytes <= 0 {
		batchBytes = 8 << 20
	}
	limit := max(int64(12)*int64(batchBytes), 160<<20)
	debug.SetMemoryLimit(limit)
	log.Debug("Go memory limit", "bytes", limit)
}

func mirrorLogger(c *cli.Context) (*slog.Logger, error) {
	level := slog.LevelInfo
	if c.Bool(flagVerbose) {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.String("log-format") {
	case "text":
		return slog.New(slog.NewTextHandler(c.App.ErrWriter, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(c.App.ErrWriter, opts)), nil
	}
	return nil, fmt.Errorf("log format %q is not text or json", c.String("log-format"))
}

// serveMetrics serves Prometheus metrics and the health probes.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, ready *atomic.Bool, log *slog.Logger) (func(), error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "routes not loaded yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics address %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	log.Info("serving metrics", "addr", l.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}
