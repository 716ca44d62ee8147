package lifecycle

import (
	"context"
	"time"

	"github.com/huleedu/topic-migrator/clientconfig"
)

// CopyForStop is copyForStop, the swap stop's staging → new copy, for the
// tests of package lifecycle_test.
func CopyForStop(ctx context.Context, cfg clientconfig.Config, source, target string, maxMessageBytes int, partitions int32) (copied int64, err error) {
	res, err := copyForStop(ctx, cfg, source, target, maxMessageBytes, partitions, 1, nil, nil, nil)
	return res.Copied, err
}

// SetStableWait sets how long a delete's proof waits for open
// transactions, until the returned func restores it.
func SetStableWait(d time.Duration) (restore func()) {
	old := stableWait
	stableWait = d
	return func() { stableWait = old }
}
