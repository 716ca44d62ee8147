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
	// Hop is the leg (1: old → interim, 2: interim → new) of a
	// `strategy: hop` rename, 0 for any other; Waiting says why hop 2 has
	// not begun.
	Hop     int    `json:"hop,omitempty"`
	Waiting string `json:"waiting,omitempty"`
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
	// EarlyWrites is what the last verify found written to the new topic
	// directly before producers were cut over; nil when it found none.
	EarlyWrites *state.EarlyWrites `json:"early_writes,omitempty"`
	// StagingVerified is how much of a swap's staging a verify during the
	// window proved; nil when none did (the swap's stop then compares it
	// in full).
	StagingVerified *StagingVerified `json:"staging_verified,omitempty"`
}

// StagingVerified is a swap's staging verified prefix, as status shows it.
type StagingVerified struct {
	// At is when the verify that proved it ended.
	At time.Time `json:"at"`
	// Ends are the old topic's offsets the prefix reaches, per partition.
	Ends state.Offsets `json:"ends"`
	// Records is how many records of the old topic it holds.
	Records int64 `json:"records"`
	// Behind is the old topic's offsets after the prefix now: what the
	// swap's stop would still compare.
	Behind int64 `json:"behind"`
}

// StatusOptions shape a status report; there are none yet.
type StatusOptions struct{}

// StatusResult is one row per rename of the map, in map order.
type StatusResult struct {
	Renames []RenameStatus `json:"renames"`
}

// Status describes every rename of the map: phase and window from the
// state file (env.Store may be nil), bridge lag, DLQ, consumer groups and
// ACL parity from the cluster.
func Status(ctx context.Context, env *Env, _ StatusOptions) (*StatusResult, error) {
	cl, st, m, bridgeGroup, now := env.Admin, env.Store, env.Map, env.bridgeGroup(), env.now()
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
		if r.Hop != nil {
			s.Hop = r.Hop.Leg
			if _, ok := records[r.From]; !ok && r.Hop.Leg == 2 && snap.Topics[r.Hop.Old] != nil {
				s.Waiting = "for hop 1 to retire " + r.Hop.Old
			}
		}
		if rec, ok := records[r.From]; ok {
			s.Phase, s.PhaseSince = rec.Phase, rec.PhaseSince
			s.EarlyWrites = rec.EarlyWrites
			if rec.Phase != state.PhaseRetired && rec.Swap != nil {
				s.SwapStep = rec.Swap.Done
			}
			if w := windowOf(rec, m.WindowOf(r)); w.Known() && rec.Phase != state.PhaseRetired && rec.Phase != state.PhaseRolledBack {
				left := w.DaysLeft(now)
				s.DaysLeft = &left
			}
		}
		if target := copyTarget(r, func(t string) bool { return snap.Topics[t] != nil }); snap.Topics[target] != nil {
			s.Copying = target
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
		if rec, ok := records[r.From]; ok && rec.StagingVerified != nil && (rec.Phase == state.PhaseCreated || rec.Phase == state.PhaseMirroring) && src != nil && src.Offsets != nil {
			pre := rec.StagingVerified
			sv := &StagingVerified{At: pre.At, Ends: pre.SourceEnds(), Records: pre.Records()}
			for p, end := range src.Offsets.Latest {
				sv.Behind += max(end-sv.Ends[int32(p)], 0)
			}
			s.StagingVerified = sv
		}
		if rec, ok := records[r.From]; ok && src != nil && src.Offsets != nil {
			if n := strayWrites(rec, latestOffsets(src)); n >= 0 {
				s.StrayWrites = &n
			}
		}
		out = append(out, s)
	}
	return &StatusResult{Renames: out}, nil
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
