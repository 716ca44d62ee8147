package lifecycle

import (
	"context"

	"github.com/huleedu/topic-migrator/clientconfig"
)

// CopyForStop is copyForStop, the swap stop's staging → new copy, for the
// tests of package lifecycle_test.
func CopyForStop(ctx context.Context, cfg clientconfig.Config, source, target string, maxMessageBytes int, partitions int32) (copied int64, err error) {
	res, err := copyForStop(ctx, cfg, source, target, maxMessageBytes, partitions, 1, nil, nil)
	return res.Copied, err
}
