package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// MapRoutes is the bridge's route source for `migrator mirror`: every
// rename of the map whose source and copy target (for a swap: its staging
// topic) both exist and, when a state file is given, whose phase is
// created or later and not retired. It needs no state file, so N bridge
// replicas need only the map. With a state file it also moves the renames
// it routes from phase created to mirroring: lifecycle, not the bridge,
// drives the phases.
type MapRoutes struct {
	Map   *plan.RenameMap
	Admin *admin.Client
	// Store, when set, filters by phase and records phase mirroring.
	Store *state.Store
	// Only limits the routes to these renames (by from topic).
	Only []string
	// Reverse copies new → old instead (rollback after producers moved).
	Reverse bool
	// Headers, when set, overrides every rename's header mode (mirror
	// --enrich-headers); otherwise each route follows its rename's.
	Headers plan.Headers
	// Command is the command line, for the audit log.
	Command string
	// Sync, when set, brings Store up to the record it caches (the
	// cluster's state, --state-backend cluster) before the routes are
	// read.
	Sync func(ctx context.Context) error
	// Lock, when set, is taken around recording a rename's phase (the
	// rename's lease in the cluster); a rename it refuses is recorded at a
	// later refresh.
	Lock func(ctx context.Context, rename string) (unlock func(), err error)
	// Log reports state-file trouble and unauthorized topics, which never
	// stop the bridge.
	Log *slog.Logger

	lastHidden string // the unauthorized topics last reported
}

// Routes implements bridge.RouteSource.
func (s *MapRoutes) Routes(ctx context.Context) ([]bridge.Route, error) {
	only := map[string]bool{}
	for _, o := range s.Only {
		if _, err := findRename(s.Map, o); err != nil {
			return nil, err
		}
		only[o] = true
	}
	var records map[string]state.Rename
	if s.Sync != nil {
		if err := s.Sync(ctx); err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
	}
	if s.Store != nil {
		recs, err := s.Store.Renames(ctx)
		if err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		records = map[string]state.Rename{}
		for _, r := range recs {
			records[r.From] = r
		}
	}
	var selected []plan.Rename
	var names []string
	for _, r := range s.Map.Renames {
		if len(only) > 0 && !only[r.From] {
			continue
		}
		if records != nil {
			switch records[r.From].Phase {
			case "", state.PhasePlanned, state.PhaseRetired, state.PhaseRolledBack:
				continue
			}
		}
		selected = append(selected, r)
		names = append(names, r.From, r.To, plan.StagingTopic(r.To))
	}
	if len(selected) == 0 {
		return nil, nil
	}
	topics, err := s.Admin.DescribeTopics(ctx, names)
	if err != nil {
		return nil, err
	}
	exists := func(t string) bool { return topics[t] != nil }
	var routes []bridge.Route
	var missing []string
	for _, r := range selected {
		from, to, start := r.From, copyTarget(r, exists), r.Start
		if del := records[r.From].Deleting; del != nil && !s.Reverse && (del.Topic == to || del.Topic == from) {
			continue // Fenced for its delete: nothing more is copied to or from it.
		}
		if s.Reverse {
			// From the earliest offset: the forward copies in the new topic
			// are skipped (their origin is the old topic), so nothing loops
			// and no record written to the new topic is missed.
			from, to, start = to, r.From, "earliest"
		}
		src, dst := topics[from], topics[to]
		if src == nil {
			missing = append(missing, from)
		}
		if dst == nil {
			missing = append(missing, to)
		}
		if src == nil || dst == nil {
			continue
		}
		route, err := newRoute(r.From, start, src, dst)
		if err != nil {
			return nil, err
		}
		route.Enrich = s.headersOf(r) == plan.HeadersEnrich
		if rec, ok := records[r.From]; ok && !s.Reverse {
			route.WindowEnd = windowOf(rec, s.Map.WindowOf(r)).End.UTC()
		}
		routes = append(routes, route)
	}
	s.reportUnauthorized(ctx, missing)
	sort.Slice(routes, func(i, j int) bool { return routes[i].From < routes[j].From })
	if err := s.markMirroring(ctx, routes, records); err != nil && s.Log != nil {
		// The state file is a record, not a dependency: copying goes on.
		s.Log.Warn("could not record progress in the state file", "err", err)
	}
	return routes, nil
}

// headersOf is the header mode of the rename's copies.
func (s *MapRoutes) headersOf(r plan.Rename) plan.Headers {
	if s.Headers != "" {
		return s.Headers
	}
	return r.Headers
}

// reportUnauthorized logs, when the set changes, the topics of the map
// that look missing only because this principal may not describe them:
// their renames are not copied until it may.
func (s *MapRoutes) reportUnauthorized(ctx context.Context, missing []string) {
	if s.Log == nil {
		return
	}
	slices.Sort(missing)
	missing = slices.Compact(missing) // a chain names a topic twice
	hidden, err := s.Admin.Unauthorized(ctx, missing)
	if err != nil {
		s.Log.Warn("could not tell missing topics from unauthorized ones", "topics", missing, "err", err)
		return
	}
	key := strings.Join(hidden, ",")
	if key == s.lastHidden {
		return
	}
	s.lastHidden = key
	for _, t := range hidden {
		s.Log.Error("not authorized to describe topic; its rename is not copied until the bridge's principal may (Read on the old topic, Write on the new, DescribeConfigs on both: runbooks/security.md)", "topic", t)
	}
}

// markMirroring moves renames the bridge now copies from phase created to
// mirroring, when there is a state file.
func (s *MapRoutes) markMirroring(ctx context.Context, routes []bridge.Route, records map[string]state.Rename) error {
	if s.Store == nil || s.Reverse {
		return nil
	}
	command := s.Command
	if command == "" {
		command = "migrator mirror"
	}
	for _, r := range routes {
		if records[r.Rename].Phase != state.PhaseCreated {
			continue
		}
		unlock := func() {}
		if s.Lock != nil {
			var err error
			if unlock, err = s.Lock(ctx, r.Rename); err != nil {
				if s.Log != nil {
					s.Log.Info("phase mirroring not recorded yet", "rename", r.Rename, "reason", err)
				}
				continue
			}
		}
		_, err := s.Store.Transition(ctx, r.Rename, state.PhaseMirroring, "the bridge copies "+r.From+" → "+r.To,
			state.AuditEntry{Command: command, Action: "phase mirroring", Detail: r.From + " → " + r.To})
		unlock()
		if err != nil {
			return fmt.Errorf("record phase mirroring of %s: %w", r.Rename, err)
		}
	}
	return nil
}

// RouteBetween describes topics from and to and returns the route that
// copies from into to for the rename, starting at start when the group has
// no committed offset.
func RouteBetween(ctx context.Context, cl *admin.Client, rename, from, to, start string) (bridge.Route, error) {
	topics, err := cl.DescribeTopics(ctx, []string{from, to})
	if err != nil {
		return bridge.Route{}, err
	}
	for _, name := range []string{from, to} {
		if topics[name] == nil {
			return bridge.Route{}, fmt.Errorf("route %s → %s: topic %s does not exist", from, to, name)
		}
	}
	return newRoute(rename, start, topics[from], topics[to])
}

// newRoute is the route from src to dst.
func newRoute(rename, start string, src, dst *admin.Topic) (bridge.Route, error) {
	if dst.Partitions < src.Partitions {
		return bridge.Route{}, fmt.Errorf("route %s → %s: the target has %d partitions, fewer than the source's %d; partition p cannot be copied to partition p", src.Name, dst.Name, dst.Partitions, src.Partitions)
	}
	maxBytes, _ := strconv.Atoi(dst.Effective["max.message.bytes"])
	return bridge.Route{
		Rename: rename, From: src.Name, To: dst.Name, DLQ: plan.DLQTopic(dst.Name), Start: start,
		SourcePartitions: int32(src.Partitions), TargetPartitions: int32(dst.Partitions), TargetMaxBytes: maxBytes,
		TargetReplicationFactor: dst.ReplicationFactor,
	}, nil
}
