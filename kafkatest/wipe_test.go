package kafkatest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestRefusesToWipeAForeignCluster checks that the harness never wipes a
// cluster scripts/kafka-up.sh did not start (a KAFKA_BOOTSTRAP_SERVERS left
// in an operator's shell): its cluster id lacks the mark, and reset
// refuses unless KAFKA_TEST_ALLOW_WIPE=1; a cluster with the mark is
// accepted.
func TestRefusesToWipeAForeignCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Setenv(EnvAllowWipe, "")
	foreign := NewFake(t)
	err := mayWipe(ctx, foreign.Admin(t))
	if err == nil || !strings.Contains(err.Error(), "refusing to wipe cluster") || !strings.Contains(err.Error(), EnvAllowWipe) {
		t.Fatalf("mayWipe(foreign cluster) = %v, want a refusal naming %s", err, EnvAllowWipe)
	}

	t.Setenv(EnvAllowWipe, "1")
	if err := mayWipe(ctx, foreign.Admin(t)); err != nil {
		t.Errorf("mayWipe with %s=1 = %v, want nil", EnvAllowWipe, err)
	}

	t.Setenv(EnvAllowWipe, "")
	marked := NewFake(t, kfake.ClusterID(testClusterIDPrefix+"AStQR0_Nx-TSDg"))
	if err := mayWipe(ctx, marked.Admin(t)); err != nil {
		t.Errorf("mayWipe(a cluster kafka-up.sh started) = %v, want nil", err)
	}
}
