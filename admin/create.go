package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// TopicSpec is a topic to create.
type TopicSpec struct {
	Name              string            `json:"name"`
	Partitions        int               `json:"partitions"`
	ReplicationFactor int               `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"`
}

// ErrTopicExists is returned for a topic that already exists.
var ErrTopicExists = errors.New("topic already exists")

// CreateTopics creates topics in one request and returns each topic's
// error (nil when created; wrapping ErrTopicExists when it already
// existed). With validateOnly the broker checks the request and creates
// nothing. The error return is for the request as a whole.
func (c *Client) CreateTopics(ctx context.Context, specs []TopicSpec, validateOnly bool) (map[string]error, error) {
	if len(specs) == 0 {
		return map[string]error{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OperationTimeout())
	defer cancel()
	req := make([]kafka.TopicSpecification, len(specs))
	for i, s := range specs {
		req[i] = kafka.TopicSpecification{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.ReplicationFactor, Config: s.Configs}
	}
	c.count()
	res, err := c.admin.CreateTopics(ctx, req, kafka.SetAdminValidateOnly(validateOnly), kafka.SetAdminOperationTimeout(c.cfg.OperationTimeout()))
	if err != nil {
		return nil, c.unreachable(ctx, fmt.Errorf("create topics: %w", err))
	}
	out := make(map[string]error, len(res))
	for _, r := range res {
		switch r.Error.Code() {
		case kafka.ErrNoError:
			out[r.Topic] = nil
		case kafka.ErrTopicAlreadyExists:
			out[r.Topic] = fmt.Errorf("create topic %q: %w", r.Topic, ErrTopicExists)
		default:
			out[r.Topic] = fmt.Errorf("create topic %q: %w", r.Topic, r.Error)
		}
	}
	return out, nil
}

// CreateACLs creates literal ACL bindings on topic, one request for all.
// Creating a binding that exists already is a no-op in Kafka.
func (c *Client) CreateACLs(ctx context.Context, topic string, acls []ACL) error {
	if len(acls) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OperationTimeout())
	defer cancel()
	bindings := make(kafka.ACLBindings, 0, len(acls))
	for _, a := range acls {
		op, err := kafka.ACLOperationFromString(a.Operation)
		if err != nil {
			return fmt.Errorf("ACL operation %q: %w", a.Operation, err)
		}
		perm, err := kafka.ACLPermissionTypeFromString(a.Permission)
		if err != nil {
			return fmt.Errorf("ACL permission %q: %w", a.Permission, err)
		}
		bindings = append(bindings, kafka.ACLBinding{
			Type: kafka.ResourceTopic, Name: topic, ResourcePatternType: kafka.ResourcePatternTypeLiteral,
			Principal: a.Principal, Host: a.Host, Operation: op, PermissionType: perm,
		})
	}
	c.count()
	res, err := c.admin.CreateACLs(ctx, bindings)
	if err != nil {
		return c.unreachable(ctx, fmt.Errorf("create ACLs on topic %q: %w", topic, err))
	}
	for i, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("create ACL %s %s %s on topic %q: %w", acls[i].Permission, acls[i].Principal, acls[i].Operation, topic, r.Error)
		}
	}
	return nil
}

// TopicExists reports whether topic is in the cluster metadata, which a
// principal sees with Describe on it (implied by Read or Write): callers
// that may only Write to a topic learn that it exists without the Create
// that CreateTopics needs even for an existing topic.
func (c *Client) TopicExists(ctx context.Context, topic string) (bool, error) {
	c.count()
	timeout := c.cfg.OperationTimeout()
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline))
	}
	md, err := c.admin.GetMetadata(&topic, false, int(timeout.Milliseconds()))
	if err != nil {
		return false, c.unreachable(ctx, fmt.Errorf("metadata of topic %q: %w", topic, err))
	}
	tm, ok := md.Topics[topic]
	return ok && tm.Error.Code() == kafka.ErrNoError && len(tm.Partitions) > 0, nil
}

// WaitForTopics waits until every topic is in the cluster metadata with a
// leader for each partition (present) or is gone from it (!present):
// Kafka answers CreateTopics and DeleteTopics before every broker knows.
func (c *Client) WaitForTopics(ctx context.Context, topics []string, present bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OperationTimeout())
	defer cancel()
	for {
		md, err := c.admin.GetMetadata(nil, true, 5000)
		if err != nil {
			return c.unreachable(ctx, fmt.Errorf("wait for topics: %w", err))
		}
		var pending []string
		for _, name := range topics {
			tm, ok := md.Topics[name]
			ready := ok && tm.Error.Code() == kafka.ErrNoError && len(tm.Partitions) > 0
			for _, p := range tm.Partitions {
				ready = ready && p.Leader >= 0
			}
			if ready != present {
				pending = append(pending, name)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			state := "appear"
			if !present {
				state = "disappear"
			}
			return fmt.Errorf("topics %v did not %s in the cluster metadata within %s", pending, state, c.cfg.OperationTimeout())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
