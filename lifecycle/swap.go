package lifecycle

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// The steps of a swap, in order. Each is recorded in the rename's state
// when it is done, so that a re-run resumes after the last one done.
const (
	SwapFenced          = "fenced"           // writes to the old topic are refused
	SwapDrained         = "drained"          // the bridge copied old → staging to the end
	SwapVerified        = "verified"         // staging equals old
	SwapSaved           = "saved"            // groups' positions and the topic spec are in the state
	SwapOldDeleted      = "old-deleted"      // the old topic is gone: no way back from here
	SwapNewCreated      = "new-created"      // the new topic exists with the old configs and ACLs
	SwapCopied          = "copied"           // staging → new copied to the end
	SwapGroupsCommitted = "groups-committed" // every group's offsets are on the new topic
	SwapNewVerified     = "new-verified"     // new equals staging
	SwapStagingDeleted  = "staging-deleted"  // done
)

// SwapSteps lists the steps in the order they run.
var SwapSteps = []string{SwapFenced, SwapDrained, SwapVerified, SwapSaved, SwapOldDeleted, SwapNewCreated, SwapCopied, SwapGroupsCommitted, SwapNewVerified, SwapStagingDeleted}

// SwapStopEnds is the last step of the stop: once every group's offsets
// are on the new topic, its producers and consumers may start on it. The
// steps after it (the record-by-record verify of new against staging,
// then staging's delete through the safety proof) run while they do;
// staging keeps every record until new passes.
const SwapStopEnds = SwapGroupsCommitted

// DefaultCopyStreams is how many copies at once the stop's copy runs
// by default.
const DefaultCopyStreams = 1

// stepSwap is the state step a swap holds from its first step to its last.
const stepSwap = "swap"

// fenceConfig is the config that fences writes: Kafka refuses every
// record batch larger than max.message.bytes, and no batch is 0 bytes.
const fenceConfig = "max.message.bytes"

// SwapOptions shape a swap.
type SwapOptions struct {
	Rename string
	// SwapGroup is the group of the staging → new copy (default
	// DefaultSwapGroup). The bridge's group (old → staging) is the Env's.
	SwapGroup string
	// QuietFor is how long the old topic must take no write before the
	// swap starts.
	QuietFor time.Duration
	// DrainTimeout bounds the wait for a running bridge to catch up.
	DrainTimeout time.Duration
	// Copy copies every record of route.From to route.To in consumer group
	// group until it has caught up. The caller supplies it so that the
	// bridge's options stay in one place. When set, it also makes the
	// staging → new copy (the bridge's exactly-once copy, in SwapGroup);
	// when nil, that copy is the stop's own, faster one (copyForStop).
	Copy func(ctx context.Context, group string, route bridge.Route) error
	// CopyStreams is how many copies at once the stop's own staging → new
	// copy runs, each over a share of the partitions with a consumer and
	// a producer of its own (0: DefaultCopyStreams).
	CopyStreams int
	// DryRun checks the preconditions and says what would be done.
	DryRun bool
	// AfterStep, when set, is called after each step is recorded; an error
	// stops the swap there, as a crash would (for tests).
	AfterStep func(step string) error
	// Progress, when set, is told each step as it starts.
	Progress func(step, detail string)
}

// SwapStep is one step of a swap and what became of it.
type SwapStep struct {
	Step    string `json:"step"`
	Outcome string `json:"outcome"` // "done", "done earlier", "would do"
	Detail  string `json:"detail,omitempty"`
	Took    string `json:"took,omitempty"`
}

// SwapResult is what a swap did.
type SwapResult struct {
	From    string         `json:"from"`
	To      string         `json:"to"`
	Staging string         `json:"staging"`
	DryRun  bool           `json:"dry_run"`
	Steps   []SwapStep     `json:"steps"`
	Groups  []GroupCutover `json:"groups"`
	// Stop is how long this run took up to the end of the stop (step
	// SwapStopEnds): the stop producers and consumers see.
	Stop time.Duration `json:"stop_ns"`
	// AfterStop is how long the steps after the stop took in this run,
	// while producers and consumers may already use the new topic.
	AfterStop time.Duration `json:"after_stop_ns,omitempty"`
}

// ErrSwapPastDelete is returned by rollback once a swap deleted the old
// topic.
var ErrSwapPastDelete = errors.New("the swap deleted the old topic")

// swapRun carries a swap's facts between steps.
type swapRun struct {
	env     *Env
	opts    SwapOptions
	r       plan.Rename
	staging string
	res     *SwapResult
	// bridgeToNew says the staging → new copy is opts.Copy's (the
	// bridge's), not copyForStop's.
	bridgeToNew bool
	// ahead reads staging ahead for copyForStop (nil: nothing does).
	ahead *readAhead
	// pre copies staging into the new topic before it exists, for
	// copyForStop to finish (nil: nothing does).
	pre *preCopy
	// proven holds, by source topic, the strict comparisons this run made
	// (the verify steps): the deletes' safety proof reuses one when
	// nothing was written since.
	proven map[string]*VerifyReport
}

// Swap replaces the old topic of a swap rename by the new one in one
// short stop: with producers and consumers of the old topic stopped, it
// fences writes to the old topic, drains the bridge into the staging
// topic, verifies staging against old, saves every consumer group's
// position, deletes the old topic, creates the new one with the old
// configs and ACLs, copies staging → new, commits every group's translated
// offsets on the new topic, verifies new against staging and deletes
// staging. The stop ends once the groups are committed (SwapStopEnds):
// the verify of new and staging's delete run while producers and
// consumers may already use the new topic. Every step is recorded before and after it runs; re-running an
// interrupted swap resumes it, and nothing is lost at any point: after the
// old topic is deleted, staging holds every record until new is verified.
func Swap(ctx context.Context, env *Env, opts SwapOptions) (*SwapResult, error) {
	started := time.Now()
	r, err := env.rename(opts.Rename)
	if err != nil {
		return nil, err
	}
	if r.Strategy != plan.StrategySwap {
		return nil, fmt.Errorf("%s does not use strategy swap: move its consumers and producers with cutover consumers and cutover producers", r.From)
	}
	if env.Store == nil {
		return nil, errors.New("cutover swap needs a state file")
	}
	if opts.SwapGroup == "" {
		opts.SwapGroup = DefaultSwapGroup
	}
	bridgeToNew := opts.Copy != nil
	if opts.Copy == nil {
		// The first hop (the bridge) added the standard headers already.
		opts.Copy = func(ctx context.Context, group string, route bridge.Route) error {
			return env.copyUntilCaughtUp(ctx, "copy "+route.From+" → "+route.To, group, "swap", bridge.StaticRoutes{route}, false, nil)
		}
	}
	s := &swapRun{env: env, opts: opts, r: r, staging: plan.StagingTopic(r.To), bridgeToNew: bridgeToNew,
		res: &SwapResult{From: r.From, To: r.To, Staging: plan.StagingTopic(r.To), DryRun: opts.DryRun}}
	rec, err := env.record(ctx, r.From, "run apply first")
	if err != nil {
		return nil, err
	}
	done := swapStepsDone(rec)
	if rec.Phase == state.PhaseRetired && done == len(SwapSteps)-1 {
		for _, step := range SwapSteps {
			s.res.Steps = append(s.res.Steps, SwapStep{Step: step, Outcome: "done earlier"})
		}
		return s.res, nil
	}
	if !bridgeToNew && !opts.DryRun && done < slices.Index(SwapSteps, SwapCopied) {
		// The stop's copy reads staging from its first records while the
		// steps before it wait on Kafka and on the quiet check.
		s.ahead = startReadAhead(ctx, env, s.staging)
		defer s.ahead.close()
		if done < slices.Index(SwapSteps, SwapNewCreated) {
			// And hands the copies to a producer that holds them until
			// the new topic exists (closed before the read-ahead).
			s.pre = startPreCopy(ctx, env, s.ahead, s.staging, r.To, cmp.Or(opts.CopyStreams, DefaultCopyStreams))
			defer s.pre.discard()
		}
	}
	if done < 0 {
		// Not started: the rename must be copying into staging.
		if rec.Phase != state.PhaseCreated && rec.Phase != state.PhaseMirroring {
			return nil, fmt.Errorf("cutover swap of %s: the rename is in phase %s; a swap starts from phase created or mirroring", r.From, rec.Phase)
		}
		if err := s.preflight(ctx); err != nil {
			return nil, err
		}
	}
	if opts.DryRun {
		for i, step := range SwapSteps {
			outcome := "would do"
			if i <= done {
				outcome = "done earlier"
			}
			s.res.Steps = append(s.res.Steps, SwapStep{Step: step, Outcome: outcome})
		}
		return s.res, nil
	}
	if _, err := env.Store.BeginStep(ctx, r.From, state.Step{Name: stepSwap, Params: map[string]string{"to": r.To, "staging": s.staging}},
		state.AuditEntry{Command: env.Command, Action: "swap: begin", Detail: r.From + " → " + r.To + " through " + s.staging}); err != nil {
		return nil, err
	}
	run := map[string]func(context.Context) (string, error){
		SwapFenced: s.fence, SwapDrained: s.drain, SwapVerified: s.verifyStaging, SwapSaved: s.save,
		SwapOldDeleted: s.deleteOld, SwapNewCreated: s.createNew, SwapCopied: s.copyToNew,
		SwapGroupsCommitted: s.commitGroups, SwapNewVerified: s.verifyNew, SwapStagingDeleted: s.finish,
	}
	stopOver := slices.Index(SwapSteps, SwapStopEnds) + 1
	var afterStop time.Time
	for i, step := range SwapSteps {
		if i <= done {
			s.res.Steps = append(s.res.Steps, SwapStep{Step: step, Outcome: "done earlier"})
			continue
		}
		detail := ""
		if i == stopOver {
			afterStop = time.Now()
			s.res.Stop = afterStop.Sub(started)
			detail = fmt.Sprintf("the stop is over (%s): producers and consumers may start on %s; verifying it against %s record by record, which stays until it passes",
				s.res.Stop.Round(time.Millisecond), r.To, s.staging)
		}
		if opts.Progress != nil {
			opts.Progress(step, detail)
		} else if detail != "" {
			s.env.logger().Info("swap: the stop is over", "rename", r.From, "to", r.To, "stop", s.res.Stop.Round(time.Millisecond))
		}
		t0 := time.Now()
		detail, err := run[step](ctx)
		if err != nil {
			audit(ctx, env, r.From, "swap: "+step, err)
			return s.res, fmt.Errorf("swap %s → %s, step %s: %w (re-run the command to resume)", r.From, r.To, step, err)
		}
		if err := s.record(ctx, step, detail); err != nil {
			return s.res, err
		}
		s.res.Steps = append(s.res.Steps, SwapStep{Step: step, Outcome: "done", Detail: detail, Took: time.Since(t0).Round(time.Millisecond).String()})
		if opts.AfterStep != nil {
			if err := opts.AfterStep(step); err != nil {
				return s.res, err
			}
		}
	}
	if afterStop.IsZero() {
		s.res.Stop = time.Since(started)
	} else {
		s.res.AfterStop = time.Since(afterStop)
	}
	return s.res, nil
}

// preflight checks that nobody uses the old topic any more: no consumer
// group member reads it (but the bridge's), and no record was written to
// it for QuietFor.
func (s *swapRun) preflight(ctx context.Context) error {
	snap, err := s.env.Admin.Describe(ctx, admin.DescribeOptions{Deep: []string{s.r.From}, Groups: true})
	if err != nil {
		return err
	}
	for _, name := range []string{s.r.From, s.staging} {
		if snap.Topics[name] == nil {
			return fmt.Errorf("cutover swap of %s: topic %s does not exist", s.r.From, name)
		}
	}
	var active []string
	for _, g := range snap.Groups {
		if g.ID != s.env.bridgeGroup() && memberReads(g, s.r.From) {
			for _, m := range g.Members {
				active = append(active, fmt.Sprintf("%s: %s (%s)", g.ID, m.ClientID, m.Host))
			}
		}
	}
	if len(active) > 0 {
		return fmt.Errorf("%w: %s is still read by %s; stop those consumers first", ErrGroupActive, s.r.From, strings.Join(active, ", "))
	}
	if s.opts.QuietFor <= 0 {
		return nil
	}
	before, err := endOffsets(ctx, s.env.Admin, s.r.From)
	if err != nil {
		return err
	}
	if s.opts.Progress != nil {
		s.opts.Progress("quiet", fmt.Sprintf("checking that nothing writes to %s for %s", s.r.From, s.opts.QuietFor))
	}
	if err := s.waitQuiet(ctx); err != nil {
		return err
	}
	after, err := endOffsets(ctx, s.env.Admin, s.r.From)
	if err != nil {
		return err
	}
	var writes int64
	for p, end := range after {
		writes += end - before[p]
	}
	if writes > 0 {
		return fmt.Errorf("%d record(s) were written to %s in the last %s: stop its producers first (they must write to %s after the swap)", writes, s.r.From, s.opts.QuietFor, s.r.To)
	}
	return nil
}

// waitQuiet waits QuietFor, reporting the seconds gone by.
func (s *swapRun) waitQuiet(ctx context.Context) error {
	report := s.env.progress("quiet check of "+s.r.From, "seconds")
	defer report.finish()
	total := int64(s.opts.QuietFor.Round(time.Second) / time.Second)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.After(s.opts.QuietFor)
	for waited := int64(0); ; {
		report.set(waited, total)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-end:
			report.set(total, total)
			return nil
		case <-tick.C:
			waited = min(waited+1, total)
		}
	}
}

// swapStepsDone is the index in SwapSteps of the last step the rename's
// swap recorded as done, -1 when none is.
func swapStepsDone(rec *state.Rename) int {
	if rec.Swap == nil {
		return -1
	}
	return slices.Index(SwapSteps, rec.Swap.Done)
}

// record notes that step is done, with its detail, in the rename's state.
func (s *swapRun) record(ctx context.Context, step, detail string) error {
	return s.setProgress(ctx, "swap: "+step, detail, func(p *state.SwapProgress) { p.Done = step })
}

// setProgress changes the rename's swap progress and appends an audit
// entry, in one transaction.
func (s *swapRun) setProgress(ctx context.Context, action, detail string, change func(*state.SwapProgress)) error {
	return s.env.Store.Update(ctx, func(tx *state.Tx) error {
		cur, found, err := tx.Rename(s.r.From)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("rename %s vanished from the state file", s.r.From)
		}
		if cur.Swap == nil {
			cur.Swap = &state.SwapProgress{}
		}
		change(cur.Swap)
		if err := tx.PutRename(cur); err != nil {
			return err
		}
		return tx.Append(state.AuditEntry{Command: s.env.Command, Rename: s.r.From, Action: action, Detail: detail, Result: "ok"})
	})
}

// progress returns the swap's recorded progress (empty before the first
// step).
func (s *swapRun) progress(ctx context.Context) (state.SwapProgress, error) {
	rec, _, err := s.env.Store.Rename(ctx, s.r.From)
	if err != nil || rec == nil || rec.Swap == nil {
		return state.SwapProgress{}, err
	}
	return *rec.Swap, nil
}

// fence makes Kafka refuse every write to the old topic, so that no record
// can arrive after the last check and be lost with the topic. The old
// value is recorded first, for rollback.
func (s *swapRun) fence(ctx context.Context) (string, error) {
	if p, err := s.progress(ctx); err != nil || p.Fence != nil {
		// Recorded by an interrupted run: the value now may be the fence.
		if err == nil {
			err = s.env.Admin.SetTopicConfig(ctx, s.r.From, fenceConfig, ptr("0"))
		}
		return "writes to " + s.r.From + " refused (max.message.bytes=0)", err
	}
	topics, err := s.env.Admin.DescribeTopics(ctx, []string{s.r.From})
	if err != nil {
		return "", err
	}
	t := topics[s.r.From]
	if t == nil {
		return "", fmt.Errorf("topic %s does not exist", s.r.From)
	}
	v, own := t.Configs[fenceConfig]
	f := state.Fence{Own: own, Value: v}
	raw, _ := json.Marshal(f)
	if err := s.setProgress(ctx, "swap: fence", "old "+fenceConfig+" "+string(raw), func(p *state.SwapProgress) { p.Fence = &f }); err != nil {
		return "", err
	}
	return "writes to " + s.r.From + " refused (max.message.bytes=0)", s.env.Admin.SetTopicConfig(ctx, s.r.From, fenceConfig, ptr("0"))
}

// unfence restores the old topic's max.message.bytes.
func unfence(ctx context.Context, env *Env, from string, f state.Fence) error {
	if f.Own {
		return env.Admin.SetTopicConfig(ctx, from, fenceConfig, &f.Value)
	}
	return env.Admin.SetTopicConfig(ctx, from, fenceConfig, nil)
}

func ptr[T any](v T) *T { return &v }

// drain copies old → staging to the end. When bridge processes are
// running it waits for them; when none is, it runs the copy itself in the
// bridge's group, so the two never copy a record twice.
func (s *swapRun) drain(ctx context.Context) (string, error) {
	group := s.env.bridgeGroup()
	members, err := groupMembers(ctx, s.env.Admin, group)
	if err != nil {
		return "", err
	}
	how := fmt.Sprintf("the running bridge (%d member(s) of %s) copied %s to the end", members, group, s.r.From)
	if members == 0 {
		route, err := RouteBetween(ctx, s.env.Admin, s.r.From, s.r.From, s.staging, s.startOf())
		if err != nil {
			return "", err
		}
		route.Enrich = s.r.Headers == plan.HeadersEnrich // as the bridge would
		if err := s.opts.Copy(ctx, group, route); err != nil {
			return "", fmt.Errorf("copy %s → %s: %w", s.r.From, s.staging, err)
		}
		how = fmt.Sprintf("copied %s → %s to the end in group %s", s.r.From, s.staging, group)
	}
	// Inside the stop every poll's wait is the clients' wait too: the
	// bridge's progress is checked often.
	_, err = Drain(ctx, s.env, DrainOptions{Rename: s.r.From, Timeout: s.opts.DrainTimeout, Poll: stopPoll})
	return how, err
}

// stopPoll is how often a step inside the stop checks what it waits for.
const stopPoll = 50 * time.Millisecond

// startOf is where the bridge starts on a partition it never copied.
func (s *swapRun) startOf() string {
	if s.r.Start != "" {
		return s.r.Start
	}
	return "earliest"
}

// verifyStaging proves staging holds every record of old. When a verify
// during the window recorded a verified prefix of staging
// (state.Rename.StagingVerified) whose proofs still hold (checkPrefix),
// it compares only the records after it; else it compares all.
func (s *swapRun) verifyStaging(ctx context.Context) (string, error) {
	rec, _, err := s.env.Store.Rename(ctx, s.r.From)
	if err != nil {
		return "", err
	}
	var pre *state.VerifiedPrefix
	if rec != nil {
		pre = rec.StagingVerified
	}
	return s.verifyFrom(ctx, s.r.From, s.staging, pre)
}

// verifyNew proves new holds every record of staging. It runs after the
// stop, so records written to new by its producers since (not copies of
// staging) are expected there and are not a mismatch.
func (s *swapRun) verifyNew(ctx context.Context) (string, error) {
	return s.verifyFrom(ctx, s.staging, s.r.To, nil)
}

// verifyFrom compares to with from strictly, as for from's delete: only
// after pre when its proofs hold, else in full.
func (s *swapRun) verifyFrom(ctx context.Context, from, to string, pre *state.VerifiedPrefix) (string, error) {
	topics, err := s.env.Admin.DescribeTopics(ctx, []string{from})
	if err != nil {
		return "", err
	}
	if topics[from] == nil {
		return "", fmt.Errorf("topic %s does not exist", from)
	}
	later := from == s.r.From && startedLater(s.r)
	report := s.env.progress("verify "+from+" → "+to, "records")
	rep, full, err := s.env.compareWithPrefix(ctx, pre, from, to, int32(topics[from].Partitions), compareOptions{startedLater: later, forDelete: true, report: report})
	report.finish()
	if err != nil {
		return "", err
	}
	how := "compared in full"
	if full == "" {
		how = fmt.Sprintf("compared only the tail after the %d record(s) verified during the window", pre.Records())
	} else if pre != nil {
		how = "compared in full: " + full
		s.env.logger().Warn("swap: the prefix verified during the window cannot be used; comparing in full", "rename", s.r.From, "why", full)
	}
	// A swap deletes the source next: every record must be in the copy.
	// Only the new topic, verified after the stop, may hold records
	// written to it directly: its producers' since the stop.
	t := rep.Totals()
	written := to == s.r.To && from == s.staging
	if !rep.OK() || t.NotYetCopied > 0 || (t.Direct > 0 && !written) {
		return "", fmt.Errorf("%s does not match %s: %s", to, from, rep.Summary())
	}
	// A dead-lettered record is not in the copy: the topic that takes the
	// name would not hold it (it gets the copy's configs), and the DLQ is
	// no place to keep what was part of the topic.
	if t.DeadLettered > 0 {
		return "", fmt.Errorf("%d record(s) of %s are not in %s but only in the DLQ %s (the copy refused them: read its dead letters for why, usually max.message.bytes): a swap deletes %s, so it stops here; roll the swap back (`migrator rollback --rename %s`), fix the target's configs in the map, apply and swap again",
			t.DeadLettered, from, to, plan.DLQTopic(to), from, s.r.From)
	}
	if s.proven == nil {
		s.proven = map[string]*VerifyReport{}
	}
	s.proven[from] = rep
	return fmt.Sprintf("%s equals %s (%s): %s", to, from, how, rep.Summary()), nil
}

// save records, before the old topic goes, every consumer group's
// position translated into staging, and the new topic's spec: staging's
// partitions and configs (the old topic's plus the map's overrides) and
// the old topic's literal ACLs.
func (s *swapRun) save(ctx context.Context) (string, error) {
	snap, err := s.env.Admin.Describe(ctx, admin.DescribeOptions{Groups: true})
	if err != nil {
		return "", err
	}
	old, staging := snap.Topics[s.r.From], snap.Topics[s.staging]
	if old == nil || staging == nil {
		return "", fmt.Errorf("both %s and %s must exist", s.r.From, s.staging)
	}
	oldOffsets := state.GroupOffsets{}
	needed := map[int32][]int64{}
	for _, g := range snap.Groups {
		if g.ID == s.env.bridgeGroup() || len(g.Offsets[s.r.From]) == 0 {
			continue
		}
		if len(g.Members) > 0 {
			return "", fmt.Errorf("%w: group %s has %d member(s); stop its consumers first", ErrGroupActive, g.ID, len(g.Members))
		}
		oldOffsets[g.ID] = g.Offsets[s.r.From]
		for p, o := range g.Offsets[s.r.From] {
			needed[p] = append(needed[p], o)
		}
	}
	tr, err := NewTranslator(s.env.Admin.Config(), s.staging, s.r.From)
	if err != nil {
		return "", err
	}
	defer tr.Close()
	translated, err := tr.translateAll(ctx, needed)
	if err != nil {
		return "", err
	}
	inStaging := state.GroupOffsets{}
	for g, parts := range oldOffsets {
		inStaging[g] = state.Offsets{}
		for p, o := range parts {
			inStaging[g][p] = translated[p][o]
		}
	}
	// The old topic's ACLs are its literal bindings (prefixed ones name
	// the prefix, not the topic, and keep applying by themselves).
	spec := toStateSpec(admin.TopicSpec{Name: s.r.To, Partitions: staging.Partitions, ReplicationFactor: staging.ReplicationFactor, Configs: staging.Configs}, old.ACLs)
	rawSpec, _ := json.Marshal(spec)
	rawOld, _ := json.Marshal(oldOffsets)
	err = s.setProgress(ctx, "swap: save", "groups "+string(rawOld)+"; spec "+string(rawSpec), func(p *state.SwapProgress) {
		p.Spec, p.Groups, p.OldOffsets = spec, inStaging, oldOffsets
	})
	return fmt.Sprintf("%d group(s) and the spec of %s saved", len(inStaging), s.r.To), err
}

// deleteOld deletes the old topic. Its intent is recorded first, so that
// rollback knows the topic may be gone even when the run died before
// recording the result.
func (s *swapRun) deleteOld(ctx context.Context) (string, error) {
	at := s.env.now().UTC()
	if err := s.setProgress(ctx, "swap: delete "+s.r.From, "staging "+s.staging+" holds every record", func(p *state.SwapProgress) { p.DeletingAt = at }); err != nil {
		return "", err
	}
	p, err := s.progress(ctx)
	if err != nil {
		return "", err
	}
	rec, _, err := s.env.Store.Rename(ctx, s.r.From)
	if err != nil {
		return "", err
	}
	d := deletion{rename: s.r.From, topic: s.r.From, keeper: s.staging, startedLater: startedLater(s.r), copyGroups: []string{s.env.bridgeGroup()},
		savedGroups: slices.Collect(maps.Keys(p.Groups)), proven: s.proven[s.r.From], prefix: rec.StagingVerified}
	if err := s.env.deleteTopic(ctx, d); err != nil {
		return "", err
	}
	return s.r.From + " deleted; " + s.staging + " holds every record", nil
}

// createNew creates the new topic once Kafka has forgotten the old one,
// with the saved spec and ACLs. A topic of that name left by an
// interrupted run is accepted when its partitions match.
func (s *swapRun) createNew(ctx context.Context) (string, error) {
	p, err := s.progress(ctx)
	if err != nil {
		return "", err
	}
	if p.Spec == nil {
		return "", fmt.Errorf("no spec of %s recorded by the save step", s.r.To)
	}
	spec := fromStateSpec(*p.Spec)
	s.pre.beforeCreate(s.env)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		errs, err := s.env.Admin.CreateTopics(ctx, []admin.TopicSpec{spec.Topic}, false)
		if err != nil {
			return "", err
		}
		cerr := errs[spec.Topic.Name]
		if cerr == nil {
			if s.pre != nil {
				s.pre.created = true
			}
			break
		}
		if errors.Is(cerr, admin.ErrTopicExists) {
			// Not created by this run: what a copy begun before it holds
			// does not go there.
			s.pre.discard()
			topics, err := s.env.Admin.DescribeTopics(ctx, []string{s.r.To})
			if err != nil {
				return "", err
			}
			if t := topics[s.r.To]; t != nil {
				if t.Partitions != spec.Topic.Partitions {
					return "", fmt.Errorf("topic %s exists with %d partitions, not the %d of %s: it was not created by this swap", s.r.To, t.Partitions, spec.Topic.Partitions, s.r.From)
				}
				break
			}
		}
		// Kafka refuses the name while it still remembers the colliding
		// old topic; it forgets within seconds of the delete.
		if time.Now().After(deadline) {
			return "", fmt.Errorf("create %s: %w (Kafka still refuses it two minutes after %s was deleted)", s.r.To, cerr, s.r.From)
		}
		s.env.logger().Info("Kafka does not yet accept the new name; retrying", "topic", s.r.To, "err", cerr)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err := s.env.Admin.WaitForTopics(ctx, []string{s.r.To}, true); err != nil {
		return "", err
	}
	if err := s.env.Admin.CreateACLs(ctx, s.r.To, spec.ACLs); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s created (%d partitions, %d configs, %d ACLs)", s.r.To, spec.Topic.Partitions, len(spec.Topic.Configs), len(spec.ACLs)), nil
}

// copyToNew copies staging → new to the end, exactly once: a re-run
// continues where an interrupted copy stopped. Nobody reads or writes the
// new topic yet, so it uses the stop's own copy (copyForStop) unless the
// caller chose the bridge's (SwapOptions.Copy).
func (s *swapRun) copyToNew(ctx context.Context) (string, error) {
	if !s.bridgeToNew {
		topics, err := s.env.Admin.DescribeTopics(ctx, []string{s.staging, s.r.To})
		if err != nil {
			return "", err
		}
		for _, t := range []string{s.staging, s.r.To} {
			if topics[t] == nil {
				return "", fmt.Errorf("topic %s does not exist", t)
			}
		}
		maxBytes, _ := strconv.Atoi(topics[s.r.To].Effective["max.message.bytes"])
		res, err := copyForStop(ctx, s.env.Admin.Config(), s.staging, s.r.To, maxBytes, int32(topics[s.staging].Partitions), cmp.Or(s.opts.CopyStreams, DefaultCopyStreams), s.ahead, s.pre, s.env.progress("copy "+s.staging+" → "+s.r.To, "records"))
		if err != nil {
			return "", fmt.Errorf("copy %s → %s: %w", s.staging, s.r.To, err)
		}
		early := ""
		if res.Early > 0 {
			early = fmt.Sprintf(", %d of them read and handed over before %s existed", res.Early, s.r.To)
		}
		return fmt.Sprintf("copied %s → %s: %d record(s) by this run (%d partition(s) resumed%s), every one acknowledged in order, each partition ending with the copy of staging's last record",
			s.staging, s.r.To, res.Copied, res.Resumed, early), nil
	}
	route, err := RouteBetween(ctx, s.env.Admin, s.r.From, s.staging, s.r.To, "earliest")
	if err != nil {
		return "", err
	}
	if err := s.opts.Copy(ctx, s.opts.SwapGroup, route); err != nil {
		return "", fmt.Errorf("copy %s → %s: %w", s.staging, s.r.To, err)
	}
	ends, err := endOffsets(ctx, s.env.Admin, s.staging)
	if err != nil {
		return "", err
	}
	committed, err := s.env.Admin.GroupOffsets(ctx, s.opts.SwapGroup)
	if err != nil {
		return "", err
	}
	for p, end := range ends {
		if committed[s.staging][p] < end {
			return "", fmt.Errorf("the copy stopped at %s/%d offset %d before its end %d", s.staging, p, committed[s.staging][p], end)
		}
	}
	return fmt.Sprintf("copied %s → %s in group %s", s.staging, s.r.To, s.opts.SwapGroup), nil
}

// commitGroups commits every saved group's position on the new topic. A
// group that already has offsets there (committed by an interrupted run,
// or by its consumers since) is left alone.
func (s *swapRun) commitGroups(ctx context.Context) (string, error) {
	p, err := s.progress(ctx)
	if err != nil {
		return "", err
	}
	inStaging, old := p.Groups, p.OldOffsets
	needed := map[int32][]int64{}
	for _, parts := range inStaging {
		for p, o := range parts {
			needed[p] = append(needed[p], o)
		}
	}
	tr, err := NewTranslator(s.env.Admin.Config(), s.r.To, s.staging)
	if err != nil {
		return "", err
	}
	defer tr.Close()
	translated, err := tr.translateAll(ctx, needed)
	if err != nil {
		return "", err
	}
	ids := slices.Sorted(maps.Keys(inStaging))
	moved := 0
	for _, id := range ids {
		res := GroupCutover{Group: id, Outcome: "moved"}
		for _, p := range slices.Sorted(maps.Keys(inStaging[id])) {
			res.Translations = append(res.Translations, Translation{Partition: p, OldOffset: old[id][p], NewOffset: translated[p][inStaging[id][p]]})
		}
		current, err := s.env.Admin.GroupOffsets(ctx, id)
		if err != nil {
			return "", err
		}
		if len(current[s.r.To]) > 0 {
			res.Outcome = "already on " + s.r.To
		} else {
			next := state.GroupOffsets{s.r.To: {}}
			for _, t := range res.Translations {
				next[s.r.To][t.Partition] = t.NewOffset
			}
			if err := commitOffsets(ctx, s.env.Admin, id, next); err != nil {
				return "", err
			}
			moved++
		}
		s.res.Groups = append(s.res.Groups, res)
	}
	sort.Slice(s.res.Groups, func(i, j int) bool { return s.res.Groups[i].Group < s.res.Groups[j].Group })
	return fmt.Sprintf("%d group(s) moved to %s", moved, s.r.To), nil
}

// finish deletes staging and the swap's group, and moves the rename to
// retired: the old name is gone, consumers and producers use the new one.
func (s *swapRun) finish(ctx context.Context) (string, error) {
	d := deletion{rename: s.r.From, topic: s.staging, keeper: s.r.To, copyGroups: []string{s.env.bridgeGroup(), s.opts.SwapGroup}, proven: s.proven[s.staging]}
	if err := s.env.deleteTopic(ctx, d); err != nil {
		return "", err
	}
	if _, err := s.env.Admin.Kafka().DeleteConsumerGroups(ctx, []string{s.opts.SwapGroup}); err != nil {
		s.env.logger().Warn("could not delete the swap's consumer group", "group", s.opts.SwapGroup, "err", err)
	}
	if _, err := s.env.Store.EndStep(ctx, s.r.From, stepSwap,
		state.AuditEntry{Command: s.env.Command, Action: "swap: end", Detail: s.r.From + " is now " + s.r.To, Result: "ok"}); err != nil && !errors.Is(err, state.ErrNoStep) {
		return "", err
	}
	rec, _, err := s.env.Store.Rename(ctx, s.r.From)
	if err != nil {
		return "", err
	}
	for _, next := range []state.Phase{state.PhaseMirroring, state.PhaseConsumersCut, state.PhaseProducersCut, state.PhaseRetired} {
		if rec.Phase == next || state.CanTransition(rec.Phase, next) != nil {
			continue
		}
		if rec, err = s.env.Store.Transition(ctx, s.r.From, next, "swapped to "+s.r.To,
			state.AuditEntry{Command: s.env.Command, Action: "phase " + string(next), Detail: "cutover swap"}); err != nil {
			return "", err
		}
	}
	return s.staging + " deleted; " + s.r.From + " is now " + s.r.To, nil
}
