package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// Moving a consumer group's committed offsets from one topic to another,
// recorded first so that a crash halfway is finished by a re-run: shared by
// cutover consumers, rollback and the swap.

// moveGroup replaces the group's offsets: everything it had, with the old
// topic's partitions swapped for their translations. Kafka's Go client has
// no offset-delete call, so the group is deleted (it has no members) and
// committed again; the complete new offsets are in the state file first, so
// a crash in between is finished by re-running the command.
func moveGroup(ctx context.Context, env *Env, r plan.Rename, from, to string, g admin.Group, tr []Translation) error {
	next := state.GroupOffsets{}
	for topic, parts := range g.Offsets {
		if topic == from {
			continue
		}
		next[topic] = parts
	}
	next[to] = state.Offsets{}
	for _, t := range tr {
		next[to][t.Partition] = t.NewOffset
	}
	data, err := json.Marshal(next)
	if err != nil {
		return err
	}
	step := stepMoveGroup + g.ID + ":" + to
	if _, err := env.Store.EnsureRename(ctx, r.From, r.To, string(r.Strategy)); err != nil {
		return err
	}
	intent := state.Step{Name: step, Params: map[string]string{"group": g.ID, "to": to}, Offsets: next}
	if _, err := env.Store.BeginStep(ctx, r.From, intent,
		state.AuditEntry{Command: env.Command, Action: "move group: begin", Detail: g.ID + " → " + string(data)}); err != nil {
		return err
	}
	return commitGroup(ctx, env, r.From, step, g.ID, to, next)
}

// stepMoveGroup prefixes the state step of a group move:
// move-group:GROUP:TOPIC.
const stepMoveGroup = "move-group:"

// ResumeMove finishes a group move that an earlier run recorded but did
// not complete (it may have died after resetting the group and before
// committing its new offsets); it does nothing when none is pending.
func ResumeMove(ctx context.Context, env *Env, from string) error {
	rec, found, err := env.Store.Rename(ctx, from)
	if err != nil || !found || rec.Step == nil || !strings.HasPrefix(rec.Step.Name, stepMoveGroup) {
		return err
	}
	next := rec.Step.Offsets
	if len(next) == 0 {
		return fmt.Errorf("rename %s: the interrupted %s recorded no offsets", from, rec.Step.Name)
	}
	env.logger().Warn("finishing an interrupted group move", "step", rec.Step.Name, "started", rec.Step.StartedAt)
	return commitGroup(ctx, env, from, rec.Step.Name, rec.Step.Params["group"], rec.Step.Params["to"], next)
}

// commitGroup resets the group and commits next, then closes the step.
func commitGroup(ctx context.Context, env *Env, from, step, group, to string, next state.GroupOffsets) error {
	g := admin.Group{ID: group}
	ka := env.Admin.Kafka()
	if res, err := ka.DeleteConsumerGroups(ctx, []string{g.ID}); err != nil {
		return fmt.Errorf("reset group %s: %w", g.ID, err)
	} else {
		for _, gr := range res.ConsumerGroupResults {
			if gr.Error.Code() != kafka.ErrNoError && gr.Error.Code() != kafka.ErrGroupIDNotFound {
				return fmt.Errorf("reset group %s: %w", g.ID, gr.Error)
			}
		}
	}
	if err := commitOffsets(ctx, env.Admin, g.ID, next); err != nil {
		return fmt.Errorf("%w (re-run the command: the offsets are recorded)", err)
	}
	_, err := env.Store.EndStep(ctx, from, step,
		state.AuditEntry{Command: env.Command, Action: "move group: end", Detail: g.ID + " moved to " + to, Result: "ok"})
	return err
}

// commitOffsets commits offsets (topic → partition → offset) for group,
// which must have no active members.
func commitOffsets(ctx context.Context, cl *admin.Client, group string, offsets state.GroupOffsets) error {
	var tps []kafka.TopicPartition
	for topic, parts := range offsets {
		for p, o := range parts {
			topic := topic
			tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(o)})
		}
	}
	deadline := time.Now().Add(cl.Config().OperationTimeout())
	for {
		res, err := cl.Kafka().AlterConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group, Partitions: tps}})
		if err != nil {
			return fmt.Errorf("commit offsets of group %s: %w", group, err)
		}
		var failed error
		for _, gtp := range res.ConsumerGroupsTopicPartitions {
			for _, tp := range gtp.Partitions {
				if tp.Error != nil && failed == nil {
					failed = fmt.Errorf("commit offset of group %s on %s/%d: %w", group, *tp.Topic, tp.Partition, tp.Error)
				}
			}
		}
		// Kafka answers a commit the coordinator cannot take yet (it is
		// being created, moved or loaded) with a partition error.
		var kerr kafka.Error
		if failed == nil || !errors.As(failed, &kerr) || !coordinatorNotReady(kerr.Code()) || time.Now().After(deadline) {
			return failed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// coordinatorNotReady reports the errors of a group coordinator that will
// take the request shortly.
func coordinatorNotReady(code kafka.ErrorCode) bool {
	switch code {
	case kafka.ErrCoordinatorNotAvailable, kafka.ErrNotCoordinator, kafka.ErrCoordinatorLoadInProgress:
		return true
	}
	return false
}
