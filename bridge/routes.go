package bridge

import (
	"context"
	"time"
)

// Route is one source topic the bridge copies, and where to. The bridge
// copies what its RouteSource says; which renames are copied, and when,
// is decided elsewhere (lifecycle.MapRoutes derives routes from the rename
// map, the cluster and the state).
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
	// Enrich adds the standard headers a record lacks to its copies
	// (HeaderPolicy.Enrich); without it a copy is faithful: the source's
	// headers plus X-Migrator-Origin.
	Enrich bool
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

// StaticRoutes is a fixed list of routes, for tests and one-off copies.
type StaticRoutes []Route

// Routes implements RouteSource.
func (s StaticRoutes) Routes(context.Context) ([]Route, error) { return s, nil }
