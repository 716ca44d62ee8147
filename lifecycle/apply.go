package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// ApplyOptions narrow and shape an apply.
type ApplyOptions struct {
	// Saved is a plan saved by `plan --out`; apply refuses it when the
	// cluster changed since (its id no longer matches).
	Saved *plan.Plan
	// Renames limits apply to these renames (by from topic); empty: all.
	Renames []string
	// DryRun validates the creates with the broker and changes nothing.
	DryRun bool
}

// Outcomes of one rename's apply.
const (
	OutcomeCreated      = "created"
	OutcomeWouldCreate  = "would create"
	OutcomeExists       = "exists"
	OutcomeBlocked      = "blocked"
	OutcomeFailed       = "failed"
	OutcomeAlreadyAhead = "already further"
	// OutcomeWaiting: hop 2 of a hop, which starts once hop 1 is retired.
	OutcomeWaiting = "waiting"
)

// ApplyResult is what apply did.
type ApplyResult struct {
	PlanID  string              `json:"plan_id"`
	DryRun  bool                `json:"dry_run"`
	Renames []ApplyRenameResult `json:"renames"`
}

// ApplyRenameResult is what apply did for one rename.
type ApplyRenameResult struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Topic   string `json:"topic,omitempty"`
	Outcome string `json:"outcome"`
	// ACLsCopied counts ACL bindings created on the new topic.
	ACLsCopied int         `json:"acls_copied"`
	Phase      state.Phase `json:"phase,omitempty"`
	Detail     string      `json:"detail,omitempty"`
}

// Failed counts renames whose apply failed or was blocked.
func (r *ApplyResult) Failed() int {
	n := 0
	for _, x := range r.Renames {
		if x.Outcome == OutcomeFailed || x.Outcome == OutcomeBlocked {
			n++
		}
	}
	return n
}

// ErrPlanStale is returned when a saved plan no longer matches the cluster.
var ErrPlanStale = errors.New("saved plan is stale")

const stepApply = "apply"

// Apply creates the new topics of the chosen renames (or, for a swap, the
// staging topic) with the source's partitions, replication and own
// configs plus the map's overrides, copies the source's literal ACLs, and
// moves each rename to phase created. It is idempotent: a re-run after a
// crash creates what is missing and leaves alone what is right.
func Apply(ctx context.Context, env *Env, opts ApplyOptions) (*ApplyResult, error) {
	p, snap, err := plan.Make(ctx, env.Admin, env.Map)
	if err != nil {
		return nil, err
	}
	if opts.Saved != nil && opts.Saved.ID != p.ID {
		return nil, fmt.Errorf("%w: plan %s was made against another map or cluster state than now (%s); something changed since: run plan again and review it", ErrPlanStale, opts.Saved.ID, p.ID)
	}
	selected, err := selectRenames(p, opts.Renames)
	if err != nil {
		return nil, err
	}
	res := &ApplyResult{PlanID: p.ID, DryRun: opts.DryRun}
	if opts.DryRun {
		return res, dryRun(ctx, env, selected, res)
	}
	if env.Store == nil {
		return nil, errors.New("apply needs a state file")
	}

	var toCreate []admin.TopicSpec
	// hopNew are the new topics of hop 2 legs: Kafka may refuse such a name
	// for a few seconds after the colliding old topic was deleted.
	hopNew := map[string]bool{}
	res.Renames = make([]ApplyRenameResult, len(selected))
	results := map[string]*ApplyRenameResult{}
	for i, rp := range selected {
		r := &res.Renames[i]
		*r = ApplyRenameResult{From: rp.From, To: rp.To}
		results[rp.From] = r
		if rp.Create != nil {
			r.Topic = rp.Create.Name
		}
		if rp.Blocked() {
			r.Outcome = OutcomeBlocked
			r.Detail = blockingReasons(rp)
			continue
		}
		if wait, err := applyWaits(ctx, env, rp); err != nil || wait != "" {
			if err != nil {
				return res, err
			}
			r.Outcome, r.Detail = OutcomeWaiting, wait
			continue
		}
		rec, err := env.Store.EnsureRename(ctx, rp.From, rp.To, string(rp.Strategy))
		if err != nil {
			return res, err
		}
		if rec.Phase == state.PhaseRolledBack {
			// Starting over after a rollback goes through planned.
			if rec, err = env.Store.Transition(ctx, rp.From, state.PhasePlanned, "apply after rollback",
				state.AuditEntry{Command: env.Command, Action: "phase planned"}); err != nil {
				return res, err
			}
		}
		r.Phase = rec.Phase
		if rec.Phase != state.PhasePlanned && rec.Phase != state.PhaseCreated {
			r.Outcome = OutcomeAlreadyAhead
			r.Detail = fmt.Sprintf("in phase %s since %s", rec.Phase, rec.PhaseSince.Format("2006-01-02 15:04"))
			continue
		}
		if rp.Create == nil {
			// Nothing left to create (a finished swap): record the phase.
			r.Outcome = OutcomeExists
			continue
		}
		if _, err := env.Store.BeginStep(ctx, rp.From, state.Step{Name: stepApply, Params: map[string]string{"topic": rp.Create.Name, "plan": p.ID}},
			state.AuditEntry{Command: env.Command, Action: "apply: begin", Detail: "create " + rp.Create.Name}); err != nil {
			return res, err
		}
		if rp.Action == plan.ActionCreate || rp.Action == plan.ActionCreateStaging {
			toCreate = append(toCreate, *rp.Create)
			if rp.Hop == 2 {
				hopNew[rp.Create.Name] = true
			}
		} else {
			r.Outcome = OutcomeExists
		}
	}

	if err := createTopics(ctx, env, toCreate, results, hopNew); err != nil {
		return res, err
	}

	for _, rp := range selected {
		r := results[rp.From]
		if r.Outcome != OutcomeCreated && r.Outcome != OutcomeExists {
			continue
		}
		if rp.Create != nil && rp.Strategy != plan.StrategySwap {
			n, err := copyACLs(ctx, env, rp, snap)
			r.ACLsCopied = n
			if err != nil {
				r.Outcome, r.Detail = OutcomeFailed, err.Error()
				audit(ctx, env, rp.From, "apply: copy ACLs", err)
				continue
			}
		}
		if rp.Strategy == plan.StrategySwap && rp.Create != nil {
			r.Detail = "staging topic for the swap; ACLs are copied to " + rp.To + " by cutover swap"
		}
		if err := finishApply(ctx, env, rp, r); err != nil {
			return res, err
		}
	}
	return res, nil
}

// applyWaits returns why the rename may not be applied yet, "" when it
// may: hop 2 of a hop waits until hop 1 is retired (plan says so while the
// old topic exists; the state says so until hop 1 is recorded retired).
func applyWaits(ctx context.Context, env *Env, rp *plan.RenamePlan) (string, error) {
	if rp.Hop != 2 {
		return "", nil
	}
	r, err := env.rename(rp.From)
	if err != nil {
		return "", err
	}
	wait, err := hopWaits(ctx, env, r)
	if wait == "" && err == nil && rp.Action == plan.ActionWait {
		wait = fmt.Sprintf("hop 2 waits: %s still exists", r.Hop.Old)
	}
	return wait, err
}

// selectRenames picks the renames named (all when none are), in map order.
func selectRenames(p *plan.Plan, names []string) ([]*plan.RenamePlan, error) {
	var out []*plan.RenamePlan
	if len(names) == 0 {
		for i := range p.Renames {
			out = append(out, &p.Renames[i])
		}
		return out, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		if p.Rename(n) == nil {
			var known []string
			for _, r := range p.Renames {
				known = append(known, r.From)
			}
			return nil, &UnknownRenameError{Name: n, Close: closeNames(n, known), Known: known}
		}
		want[n] = true
	}
	for i := range p.Renames {
		if want[p.Renames[i].From] {
			out = append(out, &p.Renames[i])
		}
	}
	return out, nil
}

func blockingReasons(rp *plan.RenamePlan) string {
	var msgs []string
	for _, f := range rp.Findings {
		if f.Severity == plan.Error {
			msgs = append(msgs, f.Message)
		}
	}
	return strings.Join(msgs, " ")
}

// dryRun asks the broker to validate every create and changes nothing.
func dryRun(ctx context.Context, env *Env, selected []*plan.RenamePlan, res *ApplyResult) error {
	var specs []admin.TopicSpec
	for _, rp := range selected {
		r := ApplyRenameResult{From: rp.From, To: rp.To}
		if rp.Create != nil {
			r.Topic = rp.Create.Name
		}
		switch {
		case rp.Blocked():
			r.Outcome, r.Detail = OutcomeBlocked, blockingReasons(rp)
		case rp.Action == plan.ActionWait:
			r.Outcome, r.Detail = OutcomeWaiting, "hop 2 starts once hop 1 is retired"
		case rp.Action == plan.ActionCreate || rp.Action == plan.ActionCreateStaging:
			r.Outcome = OutcomeWouldCreate
			specs = append(specs, *rp.Create)
			if rp.Strategy != plan.StrategySwap {
				r.ACLsCopied = len(rp.ACLs)
			}
		default:
			r.Outcome = OutcomeExists
		}
		res.Renames = append(res.Renames, r)
	}
	errs, err := env.Admin.CreateTopics(ctx, specs, true)
	if err != nil {
		return err
	}
	for i := range res.Renames {
		if e := errs[res.Renames[i].Topic]; e != nil && res.Renames[i].Outcome == OutcomeWouldCreate {
			res.Renames[i].Outcome, res.Renames[i].Detail = OutcomeFailed, "the broker refuses: "+e.Error()
		}
	}
	return nil
}

// hopCreateWait bounds how long apply retries creating the new topic of
// a hop 2 that Kafka refuses: it forgets a deleted colliding topic within
// seconds.
const hopCreateWait = 2 * time.Minute

// createTopics creates the topics in one request and waits until they are
// usable. A topic that exists already (a re-run after a crash, or another
// operator) counts as created when plan would now find it right. A topic
// of retry that Kafka refuses is tried again, every half second, for up to
// hopCreateWait.
func createTopics(ctx context.Context, env *Env, specs []admin.TopicSpec, results map[string]*ApplyRenameResult, retry map[string]bool) error {
	if len(specs) == 0 {
		return nil
	}
	byTopic := map[string]*ApplyRenameResult{}
	for _, r := range results {
		byTopic[r.Topic] = r
	}
	errs, err := env.Admin.CreateTopics(ctx, specs, false)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(hopCreateWait); ; {
		var again []admin.TopicSpec
		for _, s := range specs {
			if e := errs[s.Name]; e != nil && !errors.Is(e, admin.ErrTopicExists) && retry[s.Name] {
				again = append(again, s)
			}
		}
		if len(again) == 0 || time.Now().After(deadline) {
			break
		}
		env.logger().Info("Kafka does not accept the new name of hop 2 yet (the old topic was just deleted); retrying", "topics", len(again), "err", errs[again[0].Name])
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		more, err := env.Admin.CreateTopics(ctx, again, false)
		if err != nil {
			return err
		}
		for _, s := range again {
			errs[s.Name] = more[s.Name]
		}
	}
	var created []string
	for _, s := range specs {
		r := byTopic[s.Name]
		switch e := errs[s.Name]; {
		case e == nil, errors.Is(e, admin.ErrTopicExists):
			r.Outcome = OutcomeCreated
			created = append(created, s.Name)
			env.logger().Info("created topic", "topic", s.Name, "partitions", s.Partitions, "replication", s.ReplicationFactor, "configs", len(s.Configs))
		default:
			r.Outcome, r.Detail = OutcomeFailed, e.Error()
			audit(ctx, env, r.From, "apply: create "+s.Name, e)
		}
	}
	sort.Strings(created)
	return env.Admin.WaitForTopics(ctx, created, true)
}

// copyACLs creates on the target the source's literal ACLs it lacks.
func copyACLs(ctx context.Context, env *Env, rp *plan.RenamePlan, snap *admin.Snapshot) (int, error) {
	have := map[admin.ACL]bool{}
	if t := snap.Topics[rp.Create.Name]; t != nil {
		for _, a := range t.ACLs {
			a.Resource = ""
			have[a] = true
		}
	}
	var missing []admin.ACL
	for _, a := range rp.ACLs {
		a.Resource = ""
		if !have[a] {
			missing = append(missing, a)
		}
	}
	if err := env.Admin.CreateACLs(ctx, rp.Create.Name, missing); err != nil {
		return 0, err
	}
	return len(missing), nil
}

// finishApply records the result and moves the rename to created.
func finishApply(ctx context.Context, env *Env, rp *plan.RenamePlan, r *ApplyRenameResult) error {
	detail := fmt.Sprintf("%s %s (%d partitions, %d configs, %d ACLs copied)", r.Outcome, r.Topic, rp.Create.Partitions, len(rp.Create.Configs), r.ACLsCopied)
	rec, err := env.Store.EndStep(ctx, rp.From, stepApply,
		state.AuditEntry{Command: env.Command, Action: "apply: end", Detail: detail, Result: "ok"})
	if err != nil {
		return err
	}
	if rec.Phase == state.PhaseCreated {
		// A re-run (after a crash, or to converge configs and ACLs): the
		// phase is recorded once.
		r.Phase = rec.Phase
		return nil
	}
	rec, err = env.Store.Transition(ctx, rp.From, state.PhaseCreated, "apply: "+detail,
		state.AuditEntry{Command: env.Command, Action: "phase created", Detail: detail, Result: "ok"})
	if err != nil {
		return err
	}
	r.Phase = rec.Phase
	return nil
}
