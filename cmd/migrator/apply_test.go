package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

func runApply(t *testing.T, c *kafkatest.Cluster, stateFile string, args ...string) (*lifecycle.ApplyResult, error) {
	t.Helper()
	base := []string{"-b", c.Bootstrap, "--map", shippedMap, "--state", stateFile, "-o", "json", "apply", "--yes"}
	out, _, err := run(t, append(base, args...)...)
	var res lifecycle.ApplyResult
	if jerr := json.Unmarshal([]byte(out), &res); jerr != nil {
		t.Fatalf("apply output is not JSON (%v): %q, err %v", jerr, out, err)
	}
	return &res, err
}

// TestApplyHuleEdu applies the shipped map over HuleEdu's topics: the two
// non-colliding targets and the nine swap staging topics are created with
// the sources' partitions, configs and ACLs; a second apply changes
// nothing.
func TestApplyHuleEdu(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		c.SeedHuleEdu(t, 3)
		cl := c.Admin(t)
		src := "huleedu.commands.batch.pipeline.v1"
		alterConfig(t, cl, src, "cleanup.policy", "compact")
		acls := []admin.ACL{
			{Principal: "User:pipeline-svc", Host: "*", Operation: "READ", Permission: "ALLOW"},
			{Principal: "User:gateway", Host: "*", Operation: "WRITE", Permission: "ALLOW"},
		}
		if c.Kind == kafkatest.Real {
			if err := cl.CreateACLs(ctx, src, acls); err != nil {
				t.Fatal(err)
			}
			waitForACLs(t, cl, src, 2) // The authorizer learns them asynchronously.
		}
		stateFile := filepath.Join(t.TempDir(), "migrator.db")

		res, err := runApply(t, c, stateFile)
		if err != nil {
			t.Fatalf("apply: %v (%+v)", err, res)
		}
		if len(res.Renames) != 11 {
			t.Fatalf("apply handled %d renames, want 11", len(res.Renames))
		}
		for _, r := range res.Renames {
			if r.Outcome != lifecycle.OutcomeCreated || r.Phase != state.PhaseCreated {
				t.Errorf("%s: outcome %s phase %s (%s)", r.From, r.Outcome, r.Phase, r.Detail)
			}
		}
		snap, err := cl.Describe(ctx, admin.DescribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := plan.LoadRenameMap(shippedMap)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range m.Renames {
			name := r.To
			if r.Strategy == plan.StrategySwap {
				name = plan.StagingTopic(r.To)
				if snap.Topics[r.To] != nil {
					t.Errorf("swap target %s was created beside its source", r.To)
				}
			}
			got, want := snap.Topics[name], snap.Topics[r.From]
			if got == nil {
				t.Errorf("%s was not created", name)
				continue
			}
			if got.Partitions != want.Partitions || got.ReplicationFactor != want.ReplicationFactor || !sameConfigs(got.Configs, want.Configs) {
				t.Errorf("%s = %d partitions ×%d %v, want as %s: %d ×%d %v", name, got.Partitions, got.ReplicationFactor, got.Configs, r.From, want.Partitions, want.ReplicationFactor, want.Configs)
			}
		}
		target := snap.Topics["huleedu.batch.pipeline.initiate.command.v1"]
		if target.Configs["cleanup.policy"] != "compact" {
			t.Errorf("the source's own config was not copied: %v", target.Configs)
		}
		if c.Kind == kafkatest.Real {
			waitForACLs(t, cl, target.Name, 2)
		}

		// A second apply changes nothing.
		before, _ := cl.Describe(ctx, admin.DescribeOptions{})
		again, err := runApply(t, c, stateFile)
		if err != nil {
			t.Fatalf("second apply: %v", err)
		}
		for _, r := range again.Renames {
			if r.Outcome != lifecycle.OutcomeExists || r.ACLsCopied != 0 {
				t.Errorf("second apply of %s: outcome %s, %d ACLs copied", r.From, r.Outcome, r.ACLsCopied)
			}
		}
		after, _ := cl.Describe(ctx, admin.DescribeOptions{})
		if len(after.Topics) != len(before.Topics) {
			t.Errorf("second apply changed the topic count: %d → %d", len(before.Topics), len(after.Topics))
		}

		st, err := state.Open(stateFile, state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		audit, err := st.Audit(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		if len(audit) == 0 || audit[0].Actor == "" || audit[0].Time.IsZero() {
			t.Errorf("audit log = %+v", audit)
		}
	})
}

func TestApplyRefusesStalePlan(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		c.CreateTopic(t, "stale.a.v1", 2, nil)
		mapFile := writeFile(t, "map.yaml", "version: 1\nrenames:\n  - {from: stale.a.v1, to: stale.b.v1}\n")
		planFile := filepath.Join(t.TempDir(), "plan.json")
		if _, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "plan", "--out", planFile); err != nil {
			t.Fatal(err)
		}
		alterConfig(t, c.Admin(t), "stale.a.v1", "retention.ms", "3600000")
		stateFile := filepath.Join(t.TempDir(), "s.db")
		_, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "apply", "--yes", "--plan", planFile)
		if err == nil || !strings.Contains(err.Error(), "saved plan is stale") || !strings.Contains(err.Error(), "run plan again") {
			t.Fatalf("err = %v, want the stale plan refused", err)
		}
		if exitCode(err) != exitRefused {
			t.Errorf("exit code %d, want %d (refused by a safety check)", exitCode(err), exitRefused)
		}
		snap, _ := c.Admin(t).Describe(context.Background(), admin.DescribeOptions{})
		if snap.Topics["stale.b.v1"] != nil {
			t.Error("apply created the target from a stale plan")
		}
		// A fresh plan applies.
		if _, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "plan", "--out", planFile); err != nil {
			t.Fatal(err)
		}
		if _, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "apply", "--yes", "--plan", planFile); err != nil {
			t.Fatalf("apply of a fresh plan: %v", err)
		}
	})
}

func TestApplyDryRunAndBlocked(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		c.CreateTopic(t, "dry.a.v1", 1, nil)
		c.CreateTopic(t, "dry.b_c.v1", 1, nil)
		mapFile := writeFile(t, "map.yaml", "version: 1\nrenames:\n  - {from: dry.a.v1, to: dry.new.v1}\n  - {from: dry.b_c.v1, to: dry.b.c.v1}\n")
		stateFile := filepath.Join(t.TempDir(), "s.db")
		out, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "apply", "--dry-run")
		if err == nil || !strings.Contains(err.Error(), "1 rename(s) blocked or failed") {
			t.Fatalf("dry run err = %v", err)
		}
		for _, want := range []string{"would create", "blocked", "Kafka refuses to create dry.b.c.v1 while dry.b_c.v1 exists"} {
			if !strings.Contains(out, want) {
				t.Errorf("dry-run output lacks %q:\n%s", want, out)
			}
		}
		snap, _ := c.Admin(t).Describe(context.Background(), admin.DescribeOptions{})
		if snap.Topics["dry.new.v1"] != nil {
			t.Error("dry run created a topic")
		}
		// The real apply creates the good one and names the blocked one.
		out, _, err = run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "apply", "--yes")
		if err == nil || !strings.Contains(out, "created") || !strings.Contains(out, "blocked") {
			t.Fatalf("apply: err %v, output:\n%s", err, out)
		}
		if err := c.Admin(t).WaitForTopics(context.Background(), []string{"dry.new.v1"}, true); err != nil {
			t.Fatal(err)
		}
	})
}

func TestApplyWithoutYesOutsideTerminal(t *testing.T) {
	_, _, err := run(t, "-b", "127.0.0.1:1", "--map", shippedMap, "apply")
	if err == nil || !strings.Contains(err.Error(), "apply changes the cluster or the state: it needs --yes (-y) when not run from a terminal") || exitCode(err) != exitUsage {
		t.Fatalf("err = %v (exit %d), want a usage error", err, exitCode(err))
	}
}

func sameConfigs(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func alterConfig(t *testing.T, cl *admin.Client, topic, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// SetTopicConfig returns once a broker describes the new value.
	if err := cl.SetTopicConfig(ctx, topic, key, &value); err != nil {
		t.Fatalf("alter %s %s=%s: %v", topic, key, value, err)
	}
}

// waitForACLs waits until topic has n literal ACLs.
func waitForACLs(t *testing.T, cl *admin.Client, topic string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []admin.ACL
	for ctx.Err() == nil {
		snap, err := cl.Describe(ctx, admin.DescribeOptions{})
		if err == nil && snap.Topics[topic] != nil {
			if got = snap.Topics[topic].ACLs; len(got) == n {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("topic %s has ACLs %+v, want %d", topic, got, n)
}
