package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/clusterstate"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/state"
)

// TestLeaseBetweenProcesses runs migrator processes with separate state
// files (separate hosts' caches) on one rename with --state-backend
// cluster and a 3-second lease. The first holds the lease while its
// `cutover consumers --wait` waits for the bridge; a second is refused
// (exit 1, naming the holder's user, host, command and pid) until the
// first is SIGKILLed and its lease expires, then proceeds. A third, holding
// the lease the same way, is SIGSTOPped past its lease; a fourth takes the
// expired lease and moves a group; resumed, the third finds the bridge done
// and goes to record its group move, but it is fenced: it exits 1 saying
// its lease was taken, its group is not moved, and the cluster's state is
// exactly what it was after the fourth.
func TestLeaseBetweenProcesses(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		src, dst := "lease.orders_old.v1", "lease.orders.new.v1"
		c.CreateTopic(t, src, 2, map[string]string{"retention.ms": "-1"})
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
		dir := t.TempDir()
		// migrator starts the binary with its own state file (host) and a
		// 3-second lease.
		migrator := func(cache string, args ...string) *exec.Cmd {
			cmd := exec.Command(migratorBinary(t), append([]string{"-b", c.Bootstrap, "--map", mapFile,
				"--state", filepath.Join(dir, cache), "--state-backend", "cluster", "--lease-ttl", "3s"}, args...)...)
			cmd.Stdout, cmd.Stderr = &bytes.Buffer{}, &bytes.Buffer{}
			return cmd
		}
		runOK := func(cache string, args ...string) {
			t.Helper()
			cmd := migrator(cache, args...)
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v: %v\n%s%s", args, err, cmd.Stdout, cmd.Stderr)
			}
		}

		// Setup: the rename mirrored up to offset 20 of each partition;
		// groups two and three at 10, group one at 40, past the copy.
		runOK("setup.db", "apply", "--yes")
		produceNumbered(t, c, src, 2, 0, 20)
		runOK("bridge.db", "mirror", "--until-caught-up", "--instance-id", "lease")
		produceNumbered(t, c, src, 2, 20, 20)
		for _, g := range []string{"grp-second", "grp-fourth"} {
			c.CommitOffsets(t, g, src, map[int32]int64{0: 10, 1: 10})
		}
		c.CommitOffsets(t, "grp-late", src, map[int32]int64{0: 40, 1: 40})

		reader, err := clusterstate.Open(ctx, clusterstate.Options{Config: c.Config(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Close()
		lease := func() (clusterstate.LeaseInfo, bool) { t.Helper(); return leaseOf(ctx, t, reader, src) }
		held := func(cmd *exec.Cmd) clusterstate.LeaseInfo {
			t.Helper()
			li, _ := waitLease(ctx, t, reader, src, cmd.Process.Pid)
			return li
		}
		waitingCutover := func(cache string) *exec.Cmd {
			t.Helper()
			cmd := migrator(cache, "cutover", "consumers", "--yes", "--rename", src, "--group", "grp-late", "--wait", "10m")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			})
			return cmd
		}
		// expired waits out the lease of src as last renewed by the
		// stopped or killed process cmd, by this host's clock (the clock
		// lease expiry is judged by).
		expired := func(cmd *exec.Cmd) {
			t.Helper()
			li, ok := lease()
			if !ok || li.Holder.PID != cmd.Process.Pid {
				t.Fatalf("the lease of %s: %+v, want held by pid %d", src, li, cmd.Process.Pid)
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(time.Until(li.Expires) + 100*time.Millisecond):
			}
		}

		// 1. The first process holds the lease; the second is refused.
		first := waitingCutover("first.db")
		li := held(first)
		second := migrator("second.db", "cutover", "consumers", "--yes", "--rename", src, "--group", "grp-second")
		err = second.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitLocked {
			t.Fatalf("the second process while the first holds the lease: %v, want exit code %d (lock held)\n%s", err, exitLocked, second.Stderr)
		}
		msg := second.Stderr.(*bytes.Buffer).String()
		for _, want := range []string{"lease held by " + li.Holder.Actor(), "user " + li.Holder.User, "on host " + li.Holder.Host,
			`for command "migrator cutover consumers"`, fmt.Sprintf("(pid %d)", first.Process.Pid), "--break-lease"} {
			if !strings.Contains(msg, want) {
				t.Errorf("the refusal does not say %q:\n%s", want, msg)
			}
		}

		// 2. SIGKILLed, the first leaves its lease to expire; then the
		// second proceeds.
		if err := first.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = first.Wait()
		expired(first)
		runOK("second.db", "cutover", "consumers", "--yes", "--rename", src, "--group", "grp-second")

		// 3. The third holds the lease and is stopped past it; the fourth
		// takes it and moves group three.
		third := waitingCutover("third.db")
		held(third)
		if err := third.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped := true
		defer func() {
			if stopped {
				_ = third.Process.Signal(syscall.SIGCONT)
			}
		}()
		expired(third)
		runOK("fourth.db", "cutover", "consumers", "--yes", "--rename", src, "--group", "grp-fourth")
		after, _, err := reader.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		took := false
		for _, e := range after.Audit {
			took = took || (e.Action == "take expired lease" && strings.Contains(e.Detail, fmt.Sprint(third.Process.Pid)))
		}
		if !took {
			t.Errorf("no audit entry says the fourth took the third's expired lease: %+v", after.Audit)
		}

		// 4. The bridge copies past group one; resumed, the third sees it
		// and tries to record its move: fenced.
		runOK("bridge.db", "mirror", "--until-caught-up", "--instance-id", "lease")
		if err := third.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		stopped = false
		err = waitProcess(third, 2*time.Minute)
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("the third process, resumed after its lease was taken: %v, want exit code 1\n%s", err, third.Stderr)
		}
		msg = third.Stderr.(*bytes.Buffer).String()
		if !strings.Contains(msg, clusterstate.ErrFenced.Error()) || !strings.Contains(msg, "was taken by") || !strings.Contains(msg, "nothing was recorded") {
			t.Errorf("the fenced process does not say its lease was taken:\n%s", msg)
		}
		final, leases, err := reader.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(final, after) {
			t.Errorf("the cluster's state changed after the fourth process:\n%+v\nwas\n%+v", final, after)
		}
		if li, ok := leases[src]; ok {
			t.Errorf("lease left behind: %+v", li)
		}
		for _, e := range final.Audit {
			if strings.Contains(e.Detail, "grp-late") {
				t.Errorf("an audit entry of group one's move: %+v", e)
			}
		}
		offs, err := c.Admin(t).GroupOffsets(ctx, "grp-late")
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]map[int32]int64{src: {0: 40, 1: 40}}; !reflect.DeepEqual(offs, want) {
			t.Errorf("group one's offsets %v, want %v: the fenced process moved it", offs, want)
		}
		rec := final.Renames[0]
		if rec.Phase != state.PhaseMirroring {
			t.Errorf("phase %s, want mirroring (group one is still on %s)", rec.Phase, src)
		}
	})
}

// TestLeaseRaceBetweenProcesses starts 20 migrator processes at once, each
// with its own state file, on the same rename (cutover consumers --wait,
// which holds the lease while it waits for a bridge that never comes):
// exactly one holds the lease, the 19 others exit 1 with ErrLeaseHeld.
// The winner is SIGKILLed and its lease left to expire; three rounds.
func TestLeaseRaceBetweenProcesses(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		const n, rounds = 20, 3
		src, dst := "race.orders_old.v1", "race.orders.new.v1"
		c.CreateTopic(t, src, 1, map[string]string{"retention.ms": "-1"})
		produceNumbered(t, c, src, 1, 0, 5)
		c.CommitOffsets(t, "late", src, map[int32]int64{0: 5})
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
		dir := t.TempDir()
		args := func(cache string, cmd ...string) []string {
			return append([]string{"-b", c.Bootstrap, "--map", mapFile, "--state", filepath.Join(dir, cache),
				"--state-backend", "cluster", "--lease-ttl", "3s", "--timeout", "60s"}, cmd...)
		}
		if out, err := exec.Command(migratorBinary(t), args("setup.db", "apply", "--yes")...).CombinedOutput(); err != nil {
			t.Fatalf("apply: %v\n%s", err, out)
		}
		reader, err := clusterstate.Open(ctx, clusterstate.Options{Config: c.Config(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Close()

		for round := range rounds {
			type exit struct {
				i   int
				err error
			}
			procs := make([]*exec.Cmd, n)
			exits := make(chan exit, n)
			for i := range procs {
				cmd := exec.Command(migratorBinary(t), args(fmt.Sprintf("r%d-p%d.db", round, i),
					"cutover", "consumers", "--yes", "--rename", src, "--group", "late", "--wait", "10m")...)
				cmd.Stderr = &bytes.Buffer{}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				procs[i] = cmd
				go func() { exits <- exit{i, cmd.Wait()} }()
			}
			killAll := func() {
				for _, p := range procs {
					_ = p.Process.Kill()
				}
			}
			// 19 exits, each refused; the one left is the holder.
			exited := map[int]bool{}
			for len(exited) < n-1 {
				select {
				case e := <-exits:
					exited[e.i] = true
					var ee *exec.ExitError
					msg := procs[e.i].Stderr.(*bytes.Buffer).String()
					if !errors.As(e.err, &ee) || ee.ExitCode() != exitLocked || !strings.Contains(msg, clusterstate.ErrLeaseHeld.Error()) {
						killAll()
						t.Fatalf("round %d: process %d ended with %v, want exit %d (lock held) and %q:\n%s", round, e.i, e.err, exitLocked, clusterstate.ErrLeaseHeld, msg)
					}
				case <-ctx.Done():
					killAll()
					t.Fatalf("round %d: only %d of %d processes were refused", round, len(exited), n-1)
				}
			}
			winner := -1
			for i := range procs {
				if !exited[i] {
					winner = i
				}
			}
			li, _ := waitLease(ctx, t, reader, src, procs[winner].Process.Pid)
			select {
			case e := <-exits:
				t.Fatalf("round %d: the winner, process %d, exited: %v\n%s", round, e.i, e.err, procs[e.i].Stderr)
			default:
			}
			// Its lease expires once it is killed: the next round can win.
			_ = procs[winner].Process.Kill()
			<-exits
			if li, ok := leaseOf(ctx, t, reader, src); ok && li.Holder.PID == procs[winner].Process.Pid {
				select {
				case <-ctx.Done():
					t.Fatal(ctx.Err())
				case <-time.After(time.Until(li.Expires) + 100*time.Millisecond):
				}
			}
			t.Logf("round %d: process %d (pid %d) won, held since %s", round, winner, procs[winner].Process.Pid, li.Since.Format(time.RFC3339Nano))
		}
	})
}

// leaseOf is the lease record of rename in the cluster now.
func leaseOf(ctx context.Context, t *testing.T, reader *clusterstate.Cluster, rename string) (clusterstate.LeaseInfo, bool) {
	t.Helper()
	_, leases, err := reader.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	li, ok := leases[rename]
	return li, ok
}

// waitLease waits until the process pid holds the lease of rename.
func waitLease(ctx context.Context, t *testing.T, reader *clusterstate.Cluster, rename string, pid int) (clusterstate.LeaseInfo, bool) {
	t.Helper()
	for {
		if li, ok := leaseOf(ctx, t, reader, rename); ok && li.Holder.PID == pid {
			return li, true
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pid %d never held the lease of %s", pid, rename)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
