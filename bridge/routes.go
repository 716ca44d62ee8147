package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// Route is one source topic the bridge copies, and where to.
type Route struct {
	// Rename is the from topic of the rename the route serves.
	Rename string
	From   string
	To     string
	// DLQ is where records To refuses for good go.
	DLQ string
	// Start is where copying starts when the group has no committed
	// offset: "earliest", "latest" or an RFC 3339 time.
	Start            string
	SourcePartitions int32
	TargetPartitions int32
	// TargetMaxBytes is the target's max.message.bytes.
	TargetMaxBytes int
	// TargetReplicationFactor is the target's; its DLQ gets the same.
	TargetReplicationFactor int
	// WindowEnd is when the rename's transition window ends: when it
	// entered phase created plus the map's window. Zero when unknown (no
	// state file, or a reverse route).
	WindowEnd time.Time
}

// RouteSource says what to copy now; the bridge asks again periodically,
// so renames added or retired are picked up without a restart.
type RouteSource interface {
	Routes(ctx context.Context) ([]Route, error)
}

// MapRoutes derives the routes from the rename map and the cluster: every
// rename whose source and target (for a swap: its staging topic) both
// exist, and, when a state file is given, whose phase is created or later
// and not retired. It needs no state file, so N bridge replicas need only
// the map.
type MapRoutes struct {
	Map   *plan.RenameMap
	Admin *admin.Client
	// Store, when set, filters by phase.
	Store *state.Store
	// Only limits the routes to these renames (by from topic).
	Only []string
	// Reverse copies new → old instead (rollback after producers moved).
	Reverse bool
	// Log reports state-file trouble and unauthorized topics, which never
	// stop the bridge.
	Log *slog.Logger

	lastHidden string // the unauthorized topics last reported
}

// Routes implements RouteSource.
func (s *MapRoutes) Routes(ctx context.Context) ([]Route, error) {
	only := map[string]bool{}
	for _, o := range s.Only {
		only[o] = true
	}
	var phases map[string]state.Phase
	windowEnds := map[string]time.Time{}
	if s.Store != nil {
		recs, err := s.Store.Renames(ctx)
		if err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		phases = map[string]state.Phase{}
		for _, r := range recs {
			phases[r.From] = r.Phase
			if start := windowStart(r); !start.IsZero() && !s.Reverse {
				windowEnds[r.From] = start.Add(s.Map.Window).UTC()
			}
		}
	}
	type pair struct{ rename, from, to, start string }
	var pairs []pair
	var names []string
	for _, r := range s.Map.Renames {
		if len(only) > 0 && !only[r.From] {
			continue
		}
		if phases != nil {
			switch phases[r.From] {
			case "", state.PhasePlanned, state.PhaseRetired, state.PhaseRolledBack:
				continue
			}
		}
		to := r.To
		if r.Strategy == plan.StrategySwap {
			to = plan.StagingTopic(r.To)
		}
		p := pair{r.From, r.From, to, r.Start}
		if s.Reverse {
			// From the earliest offset: the forward copies in the new topic
			// are skipped (their origin is the old topic), so nothing loops
			// and no record written to the new topic is missed.
			p = pair{r.From, to, r.From, "earliest"}
		}
		pairs = append(pairs, p)
		names = append(names, p.from, p.to)
	}
	if len(pairs) == 0 {
		return nil, nil
	}
	topics, err := s.Admin.DescribeTopics(ctx, names)
	if err != nil {
		return nil, err
	}
	var routes []Route
	var missing []string
	for _, p := range pairs {
		src, dst := topics[p.from], topics[p.to]
		if src == nil {
			missing = append(missing, p.from)
		}
		if dst == nil {
			missing = append(missing, p.to)
		}
		if src == nil || dst == nil {
			continue
		}
		r, err := newRoute(p.rename, p.start, src, dst)
		if err != nil {
			return nil, err
		}
		routes = append(routes, r)
	}
	s.reportUnauthorized(ctx, missing)
	sort.Slice(routes, func(i, j int) bool { return routes[i].From < routes[j].From })
	for i := range routes {
		routes[i].WindowEnd = windowEnds[routes[i].Rename]
	}
	if err := s.markMirroring(ctx, routes, phases); err != nil && s.Log != nil {
		// The state file is a record, not a dependency: copying goes on.
		s.Log.Warn("could not record progress in the state file", "err", err)
	}
	return routes, nil
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

// windowStart is when the rename first entered phase created: its
// transition window starts then (as `migrator status` counts it).
func windowStart(r state.Rename) time.Time {
	for _, t := range r.History {
		if t.To == state.PhaseCreated {
			return t.At
		}
	}
	return time.Time{}
}

// markMirroring moves renames the bridge now copies from phase created to
// mirroring, when there is a state file. It opens the file only for that.
func (s *MapRoutes) markMirroring(ctx context.Context, routes []Route, phases map[string]state.Phase) error {
	if s.Store == nil || s.Reverse {
		return nil
	}
	for _, r := range routes {
		if phases[r.Rename] != state.PhaseCreated {
			continue
		}
		_, err := s.Store.Transition(ctx, r.Rename, state.PhaseMirroring, "the bridge copies "+r.From+" → "+r.To,
			state.AuditEntry{Command: "migrator mirror", Action: "phase mirroring", Detail: r.From + " → " + r.To})
		if err != nil {
			return fmt.Errorf("record phase mirroring of %s: %w", r.Rename, err)
		}
	}
	return nil
}

// StaticRoutes is a fixed list of routes, for tests and one-off copies.
type StaticRoutes []Route

// Routes implements RouteSource.
func (s StaticRoutes) Routes(context.Context) ([]Route, error) { return s, nil }

// RouteBetween describes topics from and to and returns the route that
// copies from into to for the rename, starting at start when the group has
// no committed offset.
func RouteBetween(ctx context.Context, cl *admin.Client, rename, from, to, start string) (Route, error) {
	topics, err := cl.DescribeTopics(ctx, []string{from, to})
	if err != nil {
		return Route{}, err
	}
	for _, name := range []string{from, to} {
		if topics[name] == nil {
			return Route{}, fmt.Errorf("route %s → %s: topic %s does not exist", from, to, name)
		}
	}
	return newRoute(rename, start, topics[from], topics[to])
}

// newRoute is the route from src to dst.
func newRoute(rename, start string, src, dst *admin.Topic) (Route, error) {
	if dst.Partitions < src.Partitions {
		return Route{}, fmt.Errorf("route %s → %s: the target has %d partitions, fewer than the source's %d; partition p cannot be copied to partition p", src.Name, dst.Name, dst.Partitions, src.Partitions)
	}
	maxBytes, _ := strconv.Atoi(dst.Effective["max.message.bytes"])
	return Route{
		Rename: rename, From: src.Name, To: dst.Name, DLQ: plan.DLQTopic(dst.Name), Start: start,
		SourcePartitions: int32(src.Partitions), TargetPartitions: int32(dst.Partitions), TargetMaxBytes: maxBytes,
		TargetReplicationFactor: dst.ReplicationFactor,
	}, nil
}
