package lifecycle

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// RenameStatus is one row of `migrator status`.
type RenameStatus struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Strategy string `json:"strategy"`
	// Phase is from the state file; "" when the file does not know it.
	Phase      state.Phase `json:"phase,omitempty"`
	PhaseSince time.Time   `json:"phase_since,omitempty"`
	// SwapStep is the last step a cutover swap in progress recorded.
	SwapStep string `json:"swap_step,omitempty"`
	// DaysLeft in the transition window, counted from phase created.
	DaysLeft *float64 `json:"days_left,omitempty"`
	// Copying is the topic the bridge writes to (the target, or a swap's
	// staging topic); "" when it does not exist.
	Copying string `json:"copying,omitempty"`
	// LagRecords is what the bridge group has not committed yet; nil when
	// the group has not started on this rename.
	LagRecords *int64 `json:"lag_records,omitempty"`
	// DeadLetters counts records in the DLQ.
	DeadLetters int64 `json:"dead_letters"`
	// GroupsOnOld and GroupsOnNew are consumer groups (the bridge's own
	// excluded) with committed offsets on each topic.
	GroupsOnOld []string `json:"groups_on_old"`
	GroupsOnNew []string `json:"groups_on_new"`
	// ACLParity says whether the new topic has every literal ACL of the old.
	ACLParity string `json:"acl_parity"`
	// StrayWrites counts records written to the old topic since producers
	// were cut over; nil before that.
	StrayWrites *int64 `json:"stray_writes,omitempty"`
}

// Status describes every rename of the map: phase and window from the
// state file (which may be nil), bridge lag, DLQ, consumer groups and ACL
// parity from the cluster.
func Status(ctx context.Context, cl *admin.Client, st *state.Store, m *plan.RenameMap, bridgeGroup string, now time.Time) ([]RenameStatus, error) {
	var deep []string
	for _, r := range m.Renames {
		deep = append(deep, r.From, plan.DLQTopic(r.To), plan.DLQTopic(plan.StagingTopic(r.To)))
	}
	snap, err := cl.Describe(ctx, admin.DescribeOptions{Deep: deep, Groups: true})
	if err != nil {
		return nil, err
	}
	records := map[string]state.Rename{}
	if st != nil {
		recs, err := st.Renames(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			records[r.From] = r
		}
	}
	var bridge *admin.Group
	for i := range snap.Groups {
		if snap.Groups[i].ID == bridgeGroup {
			bridge = &snap.Groups[i]
		}
	}
	var out []RenameStatus
	for _, r := range m.Renames {
		s := RenameStatus{From: r.From, To: r.To, Strategy: string(r.Strategy)}
		if rec, ok := records[r.From]; ok {
			s.Phase, s.PhaseSince = rec.Phase, rec.PhaseSince
			if rec.Phase != state.PhaseRetired {
				s.SwapStep = rec.Data[dataSwapDone]
			}
			if created := createdAt(rec); !created.IsZero() && rec.Phase != state.PhaseRetired && rec.Phase != state.PhaseRolledBack {
				left := (m.Window - now.Sub(created)).Hours() / 24
				s.DaysLeft = &left
			}
		}
		for _, name := range []string{r.To, plan.StagingTopic(r.To)} {
			if snap.Topics[name] != nil && s.Copying == "" {
				s.Copying = name
			}
		}
		src := snap.Topics[r.From]
		if src != nil && src.Offsets != nil && bridge != nil && len(bridge.Offsets[r.From]) > 0 {
			var lag int64
			for p, end := range src.Offsets.Latest {
				committed, ok := bridge.Offsets[r.From][int32(p)]
				if !ok {
					committed = src.Offsets.Earliest[p]
				}
				lag += max(end-committed, 0)
			}
			s.LagRecords = &lag
		}
		if s.Copying != "" {
			if dlq := snap.Topics[plan.DLQTopic(s.Copying)]; dlq != nil && dlq.Offsets != nil {
				s.DeadLetters = dlq.Offsets.Records()
			}
		}
		for _, g := range snap.Groups {
			if g.ID == bridgeGroup {
				continue
			}
			if len(g.Offsets[r.From]) > 0 {
				s.GroupsOnOld = append(s.GroupsOnOld, g.ID)
			}
			if len(g.Offsets[r.To]) > 0 {
				s.GroupsOnNew = append(s.GroupsOnNew, g.ID)
			}
		}
		sort.Strings(s.GroupsOnOld)
		sort.Strings(s.GroupsOnNew)
		s.ACLParity = aclParity(snap, r.From, r.To)
		if rec, ok := records[r.From]; ok && src != nil && src.Offsets != nil {
			ends := map[int32]int64{}
			for p, o := range src.Offsets.Latest {
				ends[int32(p)] = o
			}
			if n := strayWrites(rec, ends); n >= 0 {
				s.StrayWrites = &n
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// createdAt is when the rename entered phase created (the window starts).
func createdAt(r state.Rename) time.Time {
	for _, t := range r.History {
		if t.To == state.PhaseCreated {
			return t.At
		}
	}
	return time.Time{}
}

func aclParity(snap *admin.Snapshot, from, to string) string {
	switch {
	case !snap.ACLsEnabled:
		return "no authorizer"
	case snap.Topics[from] == nil || snap.Topics[to] == nil:
		return "-"
	}
	have := map[admin.ACL]bool{}
	for _, a := range snap.Topics[to].ACLs {
		a.Resource = ""
		have[a] = true
	}
	missing := 0
	for _, a := range snap.Topics[from].ACLs {
		a.Resource = ""
		if !have[a] {
			missing++
		}
	}
	if missing > 0 {
		return fmt.Sprintf("%d ACL(s) of the old topic missing", missing)
	}
	return "ok"
}
