package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/state"
)

// TestLifecycleToRetire walks one rename from apply to retire and checks
// each refusal retire owes the operator on the way.
func TestLifecycleToRetire(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const src, dst = "life.old_name.v1", "life.new.name.v1"
		c.CreateTopic(t, src, 2, nil)
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
		stateFile := filepath.Join(t.TempDir(), "s.db")
		cli := func(args ...string) (string, error) {
			out, _, err := run(t, append([]string{"-b", c.Bootstrap, "--map", mapFile, "--state", stateFile}, args...)...)
			return out, err
		}
		must := func(args ...string) string {
			t.Helper()
			out, err := cli(args...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
			return out
		}
		must("apply", "--yes")
		produceNumbered(t, c, src, 2, 0, 40)
		mirror := exec.Command(migratorBinary(t), "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "mirror", "--instance-id", "life", "--refresh", "1s")
		mirror.Stderr = &bytes.Buffer{}
		if err := mirror.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = mirror.Process.Signal(syscall.SIGTERM); _ = waitProcess(mirror, 45*time.Second) }()

		must("drain", "--rename", src, "--timeout", "60s")
		topic := src
		commitOffsets(t, c, "app", topic, map[int32]int64{0: 40, 1: 12})
		must("cutover", "consumers", "--yes", "--rename", src, "--all-groups")
		must("cutover", "producers", "--yes", "--rename", src)

		// A producer nobody told: one stray write.
		produceNumbered(t, c, src, 1, 1000, 1)
		must("drain", "--rename", src, "--timeout", "60s")
		var rows []lifecycle.RenameStatus
		if err := json.Unmarshal([]byte(must("-o", "json", "status")), &rows); err != nil || len(rows) != 1 {
			t.Fatalf("status: %v", err)
		}
		if r := rows[0]; r.StrayWrites == nil || *r.StrayWrites != 1 || r.Phase != state.PhaseProducersCut || len(r.GroupsOnNew) != 1 {
			t.Errorf("status = %+v (stray %v)", r, r.StrayWrites)
		}

		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"retire", "--rename", src, "--yes"}, "the window of life.old_name.v1 ends"},
			{[]string{"retire", "--rename", src, "--yes", "--force"}, "retire --force needs --reason"},
			{[]string{"retire", "--rename", src, "--yes", "--force", "--reason", "test"}, "1 stray write(s) to life.old_name.v1 since producers were cut over"},
		} {
			if _, err := cli(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: err = %v, want %q", tc.args[4:], err, tc.want)
			}
		}
		must("verify", "--rename", src)
		must("retire", "--rename", src, "--yes", "--force", "--reason", "test", "--quiet-period", "0s")
		snap, err := c.Admin(t).Describe(ctx, admin.DescribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if snap.Topics[src] != nil || snap.Topics[dst] == nil {
			t.Errorf("after retire: old exists %v, new exists %v", snap.Topics[src] != nil, snap.Topics[dst] != nil)
		}
		st, _ := state.Open(stateFile, state.Options{})
		rec, _, _ := st.Rename(ctx, src)
		if rec == nil || rec.Phase != state.PhaseRetired {
			t.Fatalf("phase = %+v, want retired", rec)
		}
		audit, _ := st.Audit(ctx, src)
		var forced bool
		for _, a := range audit {
			forced = forced || strings.Contains(a.Detail, "forced: test")
		}
		if !forced {
			t.Errorf("the forced retire and its reason are not in the audit log")
		}
	})
}

func commitOffsets(t *testing.T, c *kafkatest.Cluster, group, topic string, offsets map[int32]int64) {
	t.Helper()
	c.CommitOffsets(t, group, topic, offsets)
}

// TestRetireResumesAfterCrash re-runs a retire that died after deleting the
// old topic and before recording it: the re-run records it.
func TestRetireResumesAfterCrash(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const src, dst = "crashret.old_name.v1", "crashret.new.name.v1"
		mapFile, stateFile := appliedRename(t, c, src, dst, 1)
		must := mustCLI(t, c, mapFile, stateFile)
		if cmd := mirrorProcess(t, c, mapFile, "--instance-id", "crashret", "--until-caught-up"); waitProcess(cmd, 2*time.Minute) != nil {
			t.Fatalf("mirror failed:\n%s", cmd.Stderr)
		}
		must("cutover", "consumers", "--yes", "--rename", src, "--all-groups")
		must("cutover", "producers", "--yes", "--rename", src)
		// The crashed run: intent recorded, old topic deleted, nothing after.
		st, _ := state.Open(stateFile, state.Options{})
		if _, err := st.BeginStep(ctx, src, state.Step{Name: "retire"}, state.AuditEntry{Action: "retire: begin"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Admin(t).Kafka().DeleteTopics(ctx, []string{src}); err != nil {
			t.Fatal(err)
		}
		if err := c.Admin(t).WaitForTopics(ctx, []string{src}, false); err != nil {
			t.Fatal(err)
		}
		must("retire", "--rename", src, "--yes", "--force", "--reason", "test")
		rec, _, _ := st.Rename(ctx, src)
		if rec.Phase != state.PhaseRetired || rec.Step != nil {
			t.Errorf("after the re-run: phase %s, step %+v", rec.Phase, rec.Step)
		}
	})
}
