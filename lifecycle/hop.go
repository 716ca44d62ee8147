package lifecycle

import (
	"context"
	"fmt"

	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// A `strategy: hop` entry of the map is two renames (plan.Hop): leg 1
// old → interim and leg 2 interim → new, each a dual rename of its own
// with its own state record (keyed by its from topic), so that every step
// (apply, mirror, cutover, verify, retire through the safety proof,
// rollback) is the dual one. What is particular to a hop is here: leg 2
// starts only once leg 1 is retired (Kafka refuses the new name while the
// old topic exists), and a rollback named by the old topic takes back
// whichever leg is under way.

// hopWaits returns why leg 2 of a hop may not start yet, "" when it may
// (or r is no leg 2): leg 1 must be retired.
func hopWaits(ctx context.Context, env *Env, r plan.Rename) (string, error) {
	if r.Hop == nil || r.Hop.Leg != 2 {
		return "", nil
	}
	first, ok := env.Map.HopLeg(r, 1)
	if !ok {
		return "", nil
	}
	rec, found, err := env.Store.Rename(ctx, first.From)
	if err != nil {
		return "", err
	}
	phase := state.PhasePlanned
	if found {
		phase = rec.Phase
	}
	if phase == state.PhaseRetired {
		return "", nil
	}
	return fmt.Sprintf("hop 2 waits for hop 1 (%s → %s, in phase %s): it starts once hop 1 is retired and %s is gone", first.From, first.To, phase, first.From), nil
}

// hopRollbackTarget returns the leg a rollback of r takes back: r itself,
// except for leg 1 once it is retired (the old topic is gone), when it is
// leg 2 (back to the interim). ok is false when leg 1 is retired and leg
// 2 has not begun: every client is on the interim and there is nothing to
// roll back.
func hopRollbackTarget(ctx context.Context, env *Env, r plan.Rename) (plan.Rename, bool, error) {
	if r.Hop == nil || r.Hop.Leg != 1 {
		return r, true, nil
	}
	rec, found, err := env.Store.Rename(ctx, r.From)
	if err != nil || !found || rec.Phase != state.PhaseRetired {
		return r, true, err
	}
	second, ok := env.Map.HopLeg(r, 2)
	if !ok {
		return r, true, nil
	}
	_, found, err = env.Store.Rename(ctx, second.From)
	if err != nil {
		return r, false, err
	}
	if !found {
		return second, false, nil
	}
	env.logger().Info("hop 1 is retired: rolling back hop 2, to the interim topic", "hop1", r.From, "hop2", second.From)
	return second, true, nil
}
