package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/clusterstate"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/state"
)

// TestClusterBackend runs a migration with --state-backend cluster from two
// "hosts" (two state files, each a cache): what one records the other
// sees; a rename whose lease another holder has is refused with who holds
// it, and --break-lease takes it, fencing the former holder; the bridge
// records phase mirroring without a state file of its own; a lost cache is
// rebuilt by state pull with the same renames and trail; a file pushed to
// the cluster and pulled back is the same.
func TestClusterBackend(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		src, dst := "cb.orders_old.v1", "cb.orders.new.v1"
		c.CreateTopic(t, src, 2, map[string]string{"retention.ms": "-1"})
		produceNumbered(t, c, src, 2, 0, 20)
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
		hostA := filepath.Join(t.TempDir(), "a.db")
		hostB := filepath.Join(t.TempDir(), "b.db")
		on := func(cache string) func(args ...string) (string, error) {
			return func(args ...string) (string, error) {
				out, _, err := run(t, append([]string{"-b", c.Bootstrap, "--map", mapFile, "--state", cache, "--state-backend", "cluster"}, args...)...)
				return out, err
			}
		}
		a, b := on(hostA), on(hostB)
		must := func(out string, err error) string {
			t.Helper()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			return out
		}

		must(a("apply", "--yes"))
		var rows []lifecycle.RenameStatus
		if err := json.Unmarshal([]byte(must(b("-o", "json", "status"))), &rows); err != nil || len(rows) != 1 || rows[0].Phase != state.PhaseCreated {
			t.Fatalf("status from host B after apply on A: %v %+v, want phase created", err, rows)
		}

		// The bridge, with no state file of its own to share: it records
		// phase mirroring in the cluster.
		bridgeCache := filepath.Join(t.TempDir(), "bridge.db")
		mirror := startMigrator(t, c, "--map", mapFile, "--state", bridgeCache, "--state-backend", "cluster", "mirror", "--until-caught-up", "--instance-id", "cb")
		if err := waitProcess(mirror, 2*time.Minute); err != nil {
			t.Fatalf("mirror: %v\n%s", err, mirror.Stderr)
		}
		if err := json.Unmarshal([]byte(must(b("-o", "json", "status"))), &rows); err != nil || rows[0].Phase != state.PhaseMirroring {
			t.Fatalf("status from host B after the bridge ran: %v %+v, want phase mirroring", err, rows)
		}

		// Another holder (an operator elsewhere) has the lease.
		other, err := clusterstate.Open(ctx, clusterstate.Options{Config: c.Config(),
			Holder: clusterstate.Holder{User: "carol", Host: "ci-runner-3", Command: "migrator cutover consumers", PID: 4242}})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		held, err := other.Acquire(ctx, []string{src}, false)
		if err != nil {
			t.Fatal(err)
		}
		_, err = a("cutover", "consumers", "--yes", "--rename", src, "--all-groups")
		if !errors.Is(err, clusterstate.ErrLeaseHeld) || !strings.Contains(err.Error(), "carol@ci-runner-3") || !strings.Contains(err.Error(), "--break-lease") {
			t.Fatalf("cutover while carol holds the lease: %v, want a refusal naming carol@ci-runner-3", err)
		}
		must(a("--break-lease", "cutover", "consumers", "--yes", "--rename", src, "--all-groups"))
		if err := held.Publish(ctx, nil, []state.AuditEntry{{Command: "zombie", Rename: src, Action: "late write", Result: "ok"}}); !errors.Is(err, clusterstate.ErrFenced) {
			t.Fatalf("the former holder's write after --break-lease: %v, want ErrFenced", err)
		}
		must(b("cutover", "producers", "--yes", "--rename", src))

		// Host A's cache is lost: state pull rebuilds it.
		trail := must(b("-o", "json", "history", "--rename", src))
		if err := os.Remove(hostA); err != nil {
			t.Fatal(err)
		}
		must(a("state", "pull"))
		if again := must(a("-o", "json", "history", "--rename", src)); again != trail {
			t.Errorf("the trail after state pull differs:\n%s\nwant\n%s", again, trail)
		}
		for _, want := range []string{"phase created", "phase mirroring", "break lease", "phase consumers-cut", "phase producers-cut"} {
			if !strings.Contains(trail, want) {
				t.Errorf("the cluster's trail lacks %q:\n%s", want, trail)
			}
		}
		if strings.Contains(trail, "late write") {
			t.Error("the fenced holder's write reached the trail")
		}
		stA, _ := state.Open(hostA, state.Options{})
		stB, _ := state.Open(hostB, state.Options{})
		ra, _, _ := stA.Rename(ctx, src)
		rb, _, _ := stB.Rename(ctx, src)
		if ra == nil || rb == nil || !reflect.DeepEqual(ra, rb) || ra.Phase != state.PhaseProducersCut || ra.ProducersCut == nil {
			t.Errorf("host A's rebuilt record %+v differs from host B's %+v", ra, rb)
		}
		_, err = a("state", "pull")
		if err == nil || !strings.Contains(err.Error(), "--overwrite") {
			t.Errorf("state pull over an existing file: %v, want a refusal naming --overwrite", err)
		}
	})
}

// TestStatePushPull: a state file pushed to the cluster and pulled back
// into a fresh file holds the same renames (revisions, phases, step data)
// and audit trail.
func TestStatePushPull(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		src, dst := "pp.orders_old.v1", "pp.orders.new.v1"
		mapFile, stateFile := appliedRename(t, c, src, dst, 1)
		must := mustCLI(t, c, mapFile, stateFile)
		must("rollback", "--rename", src, "--yes")
		must("state", "push")
		fresh := filepath.Join(t.TempDir(), "fresh.db")
		if out, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", fresh, "--state-backend", "cluster", "state", "pull"); err != nil {
			t.Fatalf("state pull: %v\n%s", err, out)
		}
		st, _ := state.Open(stateFile, state.Options{})
		back, _ := state.Open(fresh, state.Options{})
		want, err := st.Export(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := back.Export(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Renames, want.Renames) {
			t.Errorf("renames pulled back:\n%+v\nwant\n%+v", got.Renames, want.Renames)
		}
		if len(got.Audit) != len(want.Audit) {
			t.Fatalf("%d audit entries pulled back, want %d", len(got.Audit), len(want.Audit))
		}
		for i := range want.Audit {
			w, g := want.Audit[i], got.Audit[i]
			if w.Action != g.Action || w.Detail != g.Detail || w.Actor != g.Actor || !w.Time.Equal(g.Time) || w.Result != g.Result || w.Command != g.Command {
				t.Errorf("audit entry %d pulled back = %+v, want %+v", i, g, w)
			}
		}
	})
}

// startMigrator starts the migrator binary against c with args.
func startMigrator(t *testing.T, c *kafkatest.Cluster, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(migratorBinary(t), append([]string{"-b", c.Bootstrap}, args...)...)
	cmd.Stderr = &bytes.Buffer{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, cmd)
	return cmd
}
