package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/state"
)

// TestCacheLostMidMigration runs the same migration twice with
// --state-backend cluster, on two renames of identical topics: once
// throughout on one state file, once losing the operator's state
// directory after the consumer cutover and rebuilding it with `state
// pull` in a fresh directory. The rebuilt file holds the rename exactly
// as the lost one did, and its audit trail with the entries of other
// hosts (the bridge's) the lost one lacked; both migrations finish with the same records at the
// same places in the new topic, the group at the same records, and the same
// audit trail (as history reads it from the cluster).
func TestCacheLostMidMigration(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		kept := migrateWithCacheLoss(t, c, "kept", false)
		lost := migrateWithCacheLoss(t, c, "lost", true)
		if !reflect.DeepEqual(lost.records, kept.records) {
			t.Errorf("records in the new topic after the loss:\n%v\nwithout it:\n%v", lost.records, kept.records)
		}
		if !reflect.DeepEqual(lost.offsets, kept.offsets) {
			t.Errorf("group offsets after the loss %v, without it %v", lost.offsets, kept.offsets)
		}
		if !reflect.DeepEqual(lost.trail, kept.trail) {
			t.Errorf("audit trail after the loss:\n%s\nwithout it:\n%s", strings.Join(lost.trail, "\n"), strings.Join(kept.trail, "\n"))
		}
		if len(kept.trail) < 8 {
			t.Errorf("a trail of %d entries is too short to compare:\n%s", len(kept.trail), strings.Join(kept.trail, "\n"))
		}
	})
}

// migration is how a migration ended: the new topic's records
// ("partition@offset key=value"), the group's offsets on it, and the
// rename's audit trail (actor, command, action, detail, result; the
// run's name and temporary directory replaced by placeholders).
type migration struct {
	records []string
	offsets map[int32]int64
	trail   []string
}

// migrateWithCacheLoss walks a rename of topics named after name from
// apply to retire with the cluster backend; with lose, the state
// directory is deleted after the consumer cutover and rebuilt by `state
// pull` in a fresh one.
func migrateWithCacheLoss(t *testing.T, c *kafkatest.Cluster, name string, lose bool) migration {
	t.Helper()
	ctx := context.Background()
	src, dst := name+".orders_old.v1", name+".orders.new.v1"
	c.CreateTopic(t, src, 2, map[string]string{"retention.ms": "-1"})
	produceNumbered(t, c, src, 2, 0, 30)
	tmp := t.TempDir()
	mapFile := filepath.Join(tmp, "map.yaml")
	if err := os.WriteFile(mapFile, []byte(fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst)), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(tmp, "operator", "migrator.db")
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		t.Fatal(err)
	}
	must := func(args ...string) string {
		t.Helper()
		out, errOut, err := run(t, append([]string{"-b", c.Bootstrap, "--map", mapFile, "--state", cache, "--state-backend", "cluster"}, args...)...)
		if err != nil {
			t.Fatalf("%s: %v: %v\n%s%s", name, args, err, out, errOut)
		}
		return out
	}

	must("apply", "--yes")
	mirror := startMigrator(t, c, "--map", mapFile, "--state", filepath.Join(tmp, "bridge.db"), "--state-backend", "cluster",
		"mirror", "--until-caught-up", "--instance-id", name)
	if err := waitProcess(mirror, 2*time.Minute); err != nil {
		t.Fatalf("%s: mirror: %v\n%s", name, err, mirror.Stderr)
	}
	group := name + "-app"
	c.CommitOffsets(t, group, src, map[int32]int64{0: 30, 1: 12})
	must("cutover", "consumers", "--yes", "--rename", src, "--all-groups")

	if lose {
		before := renameState(t, cache, src)
		if err := os.RemoveAll(filepath.Dir(cache)); err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(tmp, "new-laptop", "migrator.db")
		if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
			t.Fatal(err)
		}
		if out := must("state", "pull"); !strings.Contains(out, "pulled ") {
			t.Errorf("%s: state pull said %q", name, out)
		}
		// The lost file held the rename as the cluster does, but only the
		// audit entries this operator's commands wrote (a cache's log is
		// not kept complete); the pulled one holds the cluster's whole
		// trail, theirs among it in order.
		after := renameState(t, cache, src)
		if !reflect.DeepEqual(after.Renames, before.Renames) {
			t.Errorf("%s: the pulled file's record:\n%+v\nthe lost one's:\n%+v", name, after.Renames, before.Renames)
		}
		if !inOrder(before.Audit, after.Audit) || len(after.Audit) <= len(before.Audit) {
			t.Errorf("%s: the pulled file's audit log:\n%+v\ndoes not hold the lost one's, and the bridge's:\n%+v", name, after.Audit, before.Audit)
		}
	}

	must("cutover", "producers", "--yes", "--rename", src)
	must("verify", "--rename", src)
	must("retire", "--rename", src, "--yes", "--force", "--reason", "test", "--quiet-period", "0s")

	// Where the bridge's transactions ended (and so the offsets of their
	// commit markers) depends on how its polls fell, in either run: the
	// records are compared by their place in the partition, and the
	// group's offsets by the place of the record they resume at.
	var m migration
	offsets := map[int32][]int64{}
	for p := int32(0); p < 2; p++ {
		for i, r := range c.ReadPartition(t, dst, p) {
			m.records = append(m.records, fmt.Sprintf("%d#%d %s=%s", p, i, r.Key, r.Value))
			offsets[p] = append(offsets[p], int64(r.TopicPartition.Offset))
		}
	}
	offs, err := c.Admin(t).GroupOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if len(offs) != 1 || len(offs[dst]) != 2 {
		t.Errorf("%s: group %s's offsets %v, want two on %s only", name, group, offs, dst)
	}
	m.offsets = map[int32]int64{}
	for p, o := range offs[dst] {
		// The place of the first record at or after the group's offset.
		m.offsets[p] = int64(sort.Search(len(offsets[p]), func(i int) bool { return offsets[p][i] >= o }))
	}
	if want := map[int32]int64{0: 30, 1: 12}; !reflect.DeepEqual(m.offsets, want) {
		t.Errorf("%s: group %s resumes at records %v of %s, want %v (where it was on %s)", name, group, m.offsets, dst, want, src)
	}
	var hist []lifecycle.HistoryEntry
	if err := json.Unmarshal([]byte(must("-o", "json", "history", "--rename", src)), &hist); err != nil {
		t.Fatal(err)
	}
	norm := strings.NewReplacer(tmp, "<dir>", name, "<run>")
	for _, e := range hist {
		// The group's new offsets are compared above, by place.
		detail := groupOffsetsInDetail.ReplaceAllString(e.Detail, "{<offsets>}")
		m.trail = append(m.trail, norm.Replace(fmt.Sprintf("%s | %s | %s | %s | %s", e.Actor, e.Command, e.Action, detail, e.Result)))
	}
	rec, found, err := mustStore(t, cache).Rename(ctx, src)
	if err != nil || !found || rec.Phase != state.PhaseRetired {
		t.Errorf("%s: the state file's record %+v (%v), want phase retired", name, rec, err)
	}
	return m
}

// groupOffsetsInDetail matches the offsets per partition of a group's
// move in an audit entry's detail.
var groupOffsetsInDetail = regexp.MustCompile(`\{("\d+":\d+,?)+\}`)

// renameState is what the state file at path holds about rename: its
// record and its audit entries (without their place in the whole log,
// which other renames' entries share).
func renameState(t *testing.T, path, rename string) *state.Snapshot {
	t.Helper()
	ctx := context.Background()
	st := mustStore(t, path)
	rec, found, err := st.Rename(ctx, rename)
	if err != nil || !found {
		t.Fatalf("%s in %s: found %v, %v", rename, path, found, err)
	}
	audit, err := st.Audit(ctx, rename)
	if err != nil {
		t.Fatal(err)
	}
	for i := range audit {
		audit[i].Seq = 0
	}
	return &state.Snapshot{Renames: []state.Rename{*rec}, Audit: audit}
}

// inOrder reports whether every entry of sub is in all, in the same order.
func inOrder(sub, all []state.AuditEntry) bool {
	i := 0
	for _, e := range all {
		if i < len(sub) && reflect.DeepEqual(e, sub[i]) {
			i++
		}
	}
	return i == len(sub)
}

func mustStore(t *testing.T, path string) *state.Store {
	t.Helper()
	st, err := state.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
