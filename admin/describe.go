package admin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Snapshot is what the cluster looked like at one moment: the facts plan
// decides on.
type Snapshot struct {
	// Topics holds every topic but Kafka's internal ones, by name.
	Topics map[string]*Topic `json:"topics"`
	// Groups holds every consumer group, when asked for.
	Groups []Group `json:"groups,omitempty"`
	// PrefixedACLs are topic ACLs by name prefix: they cover old and new
	// names alike only when both start with the prefix.
	PrefixedACLs []ACL `json:"prefixed_acls,omitempty"`
	// ACLsEnabled is false when the cluster has no authorizer.
	ACLsEnabled bool      `json:"acls_enabled"`
	TakenAt     time.Time `json:"taken_at"`
}

// Topic is one topic's description.
type Topic struct {
	Name              string `json:"name"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	// Configs are the topic's own (non-default) configs: those set on the
	// topic rather than inherited from the broker.
	Configs map[string]string `json:"configs,omitempty"`
	// Effective holds every config value in force, defaults included.
	Effective map[string]string `json:"-"`
	// ACLs are the bindings whose resource is this topic by literal name.
	ACLs []ACL `json:"acls,omitempty"`
	// Offsets is filled for the topics asked for in DescribeOptions.Deep.
	Offsets *TopicOffsets `json:"offsets,omitempty"`
}

// TopicOffsets are a topic's retained offsets, per partition.
type TopicOffsets struct {
	Earliest []int64 `json:"earliest"`
	Latest   []int64 `json:"latest"`
	// Oldest is the timestamp of the earliest retained record over all
	// partitions; zero when the topic is empty.
	Oldest time.Time `json:"oldest,omitempty"`
}

// Records returns how many records the topic retains (offset span; with
// compaction or transactions the true count may be lower).
func (o *TopicOffsets) Records() int64 {
	var n int64
	for p := range o.Latest {
		n += o.Latest[p] - o.Earliest[p]
	}
	return n
}

// ACL is one access-control binding.
type ACL struct {
	Principal  string `json:"principal"`
	Host       string `json:"host"`
	Operation  string `json:"operation"`
	Permission string `json:"permission"`
	// Pattern is LITERAL or PREFIXED; Resource is the topic name or prefix.
	Pattern  string `json:"pattern"`
	Resource string `json:"resource"`
}

// Group is a consumer group with its members and committed offsets.
type Group struct {
	ID      string   `json:"id"`
	State   string   `json:"state"`
	Members []Member `json:"members,omitempty"`
	// Offsets are committed offsets: topic → partition → offset.
	Offsets map[string]map[int32]int64 `json:"offsets,omitempty"`
}

// Member is one active member of a group.
type Member struct {
	ClientID   string `json:"client_id"`
	ConsumerID string `json:"consumer_id"`
	Host       string `json:"host"`
	// Topics are the topics of the member's assignment.
	Topics []string `json:"topics,omitempty"`
}

// DescribeOptions says how much to describe.
type DescribeOptions struct {
	// Deep lists topics whose offsets and oldest timestamp are needed.
	Deep []string
	// Groups asks for consumer groups and their committed offsets.
	Groups bool
}

// Describe takes a snapshot of the cluster. It batches: one metadata
// request for all topics, one describe-configs call for all of them, one
// describe-ACLs call, three list-offsets calls for the deep topics, and for
// groups one list, one describe and one offsets call per group.
func (c *Client) Describe(ctx context.Context, opts DescribeOptions) (*Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OperationTimeout())
	defer cancel()
	snap := &Snapshot{Topics: map[string]*Topic{}, TakenAt: time.Now().UTC()}
	if err := c.describeTopics(ctx, snap); err != nil {
		return nil, err
	}
	if err := c.describeConfigs(ctx, snap); err != nil {
		return nil, err
	}
	if err := c.describeACLs(ctx, snap); err != nil {
		return nil, err
	}
	var deep []string
	for _, name := range opts.Deep {
		if snap.Topics[name] != nil {
			deep = append(deep, name)
		}
	}
	if err := c.describeOffsets(ctx, snap, deep); err != nil {
		return nil, err
	}
	if opts.Groups {
		groups, err := c.DescribeGroups(ctx)
		if err != nil {
			return nil, err
		}
		snap.Groups = groups
	}
	return snap, nil
}

// TopicNames returns the snapshot's topic names, sorted.
func (s *Snapshot) TopicNames() []string {
	names := make([]string, 0, len(s.Topics))
	for n := range s.Topics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// isInternal reports whether Kafka owns the topic.
func isInternal(name string) bool { return strings.HasPrefix(name, "__") }

func (c *Client) describeTopics(ctx context.Context, snap *Snapshot) error {
	c.count()
	deadline, _ := ctx.Deadline()
	md, err := c.admin.GetMetadata(nil, true, int(time.Until(deadline).Milliseconds()))
	if err != nil {
		return c.unreachable(ctx, fmt.Errorf("list topics: %w", err))
	}
	for name, tm := range md.Topics {
		if isInternal(name) {
			continue
		}
		if tm.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("describe topic %q: %w", name, tm.Error)
		}
		t := &Topic{Name: name, Partitions: len(tm.Partitions)}
		for _, p := range tm.Partitions {
			if p.ID == 0 {
				t.ReplicationFactor = len(p.Replicas)
			}
		}
		snap.Topics[name] = t
	}
	return nil
}

// DescribeTopics describes only the named topics that exist (partitions,
// replication, configs; no ACLs or offsets): two requests, for callers
// that re-check a few topics often, such as the bridge.
func (c *Client) DescribeTopics(ctx context.Context, names []string) (map[string]*Topic, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OperationTimeout())
	defer cancel()
	snap := &Snapshot{Topics: map[string]*Topic{}}
	if err := c.describeTopics(ctx, snap); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for n := range snap.Topics {
		if !want[n] {
			delete(snap.Topics, n)
		}
	}
	if err := c.describeConfigs(ctx, snap); err != nil {
		return nil, err
	}
	return snap.Topics, nil
}

// Unauthorized returns which of names this client may not describe.
// Kafka leaves such topics out of a listing, so to DescribeTopics they
// look missing; callers ask this to tell the two apart.
func (c *Client) Unauthorized(ctx context.Context, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OperationTimeout())
	defer cancel()
	c.count()
	res, err := c.admin.DescribeTopics(ctx, kafka.NewTopicCollectionOfTopicNames(names))
	if err != nil {
		return nil, c.unreachable(ctx, fmt.Errorf("describe topics %v: %w", names, err))
	}
	var out []string
	for _, d := range res.TopicDescriptions {
		if d.Error.Code() == kafka.ErrTopicAuthorizationFailed {
			out = append(out, d.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (c *Client) describeConfigs(ctx context.Context, snap *Snapshot) error {
	if len(snap.Topics) == 0 {
		return nil
	}
	resources := make([]kafka.ConfigResource, 0, len(snap.Topics))
	for _, name := range snap.TopicNames() {
		resources = append(resources, kafka.ConfigResource{Type: kafka.ResourceTopic, Name: name})
	}
	c.count()
	results, err := c.admin.DescribeConfigs(ctx, resources)
	if err != nil {
		return c.unreachable(ctx, fmt.Errorf("describe topic configs: %w", err))
	}
	for _, r := range results {
		t := snap.Topics[r.Name]
		if t == nil {
			continue
		}
		if r.Error.Code() == kafka.ErrUnknownTopicOrPart {
			// Deleted between the metadata and the configs request.
			delete(snap.Topics, r.Name)
			continue
		}
		if r.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("describe configs of topic %q: %w", r.Name, r.Error)
		}
		t.Configs = map[string]string{}
		t.Effective = map[string]string{}
		for name, e := range r.Config {
			t.Effective[name] = e.Value
			if e.Source == kafka.ConfigSourceDynamicTopic && !e.IsSensitive {
				t.Configs[name] = e.Value
			}
		}
	}
	return nil
}

func (c *Client) describeACLs(ctx context.Context, snap *Snapshot) error {
	c.count()
	res, err := c.admin.DescribeACLs(ctx, kafka.ACLBindingFilter{
		Type:                kafka.ResourceTopic,
		ResourcePatternType: kafka.ResourcePatternTypeAny,
		Operation:           kafka.ACLOperationAny,
		PermissionType:      kafka.ACLPermissionTypeAny,
	})
	if err != nil {
		return c.unreachable(ctx, fmt.Errorf("describe ACLs: %w", err))
	}
	switch res.Error.Code() {
	case kafka.ErrNoError:
		snap.ACLsEnabled = true
	case kafka.ErrSecurityDisabled, kafka.ErrUnsupportedVersion, kafka.ErrInvalidRequest:
		return nil // No authorizer: there are no ACLs to copy.
	default:
		return fmt.Errorf("describe ACLs: %w", res.Error)
	}
	for _, b := range res.ACLBindings {
		acl := ACL{
			Principal: b.Principal, Host: b.Host,
			Operation: b.Operation.String(), Permission: b.PermissionType.String(),
			Pattern: b.ResourcePatternType.String(), Resource: b.Name,
		}
		switch b.ResourcePatternType {
		case kafka.ResourcePatternTypeLiteral:
			if t := snap.Topics[b.Name]; t != nil {
				t.ACLs = append(t.ACLs, acl)
			}
		case kafka.ResourcePatternTypePrefixed:
			snap.PrefixedACLs = append(snap.PrefixedACLs, acl)
		}
	}
	for _, t := range snap.Topics {
		sort.Slice(t.ACLs, func(i, j int) bool { return aclKey(t.ACLs[i]) < aclKey(t.ACLs[j]) })
	}
	return nil
}

func aclKey(a ACL) string {
	return strings.Join([]string{a.Principal, a.Host, a.Operation, a.Permission}, "\x00")
}

// describeOffsets lists the earliest and latest offsets and the earliest
// retained record's timestamp of every partition of topics, in three
// batched calls.
func (c *Client) describeOffsets(ctx context.Context, snap *Snapshot, topics []string) error {
	if len(topics) == 0 {
		return nil
	}
	spec := func(s kafka.OffsetSpec) map[kafka.TopicPartition]kafka.OffsetSpec {
		m := map[kafka.TopicPartition]kafka.OffsetSpec{}
		for _, name := range topics {
			for p := 0; p < snap.Topics[name].Partitions; p++ {
				m[kafka.TopicPartition{Topic: &name, Partition: int32(p)}] = s
			}
		}
		return m
	}
	list := func(s kafka.OffsetSpec) (map[string][]kafka.ListOffsetsResultInfo, error) {
		res, err := c.listOffsets(ctx, spec(s), kafka.IsolationLevelReadCommitted)
		if err != nil {
			return nil, c.unreachable(ctx, fmt.Errorf("list offsets: %w", err))
		}
		out := map[string][]kafka.ListOffsetsResultInfo{}
		for tp, info := range res.ResultInfos {
			parts := out[*tp.Topic]
			if parts == nil {
				parts = make([]kafka.ListOffsetsResultInfo, snap.Topics[*tp.Topic].Partitions)
				out[*tp.Topic] = parts
			}
			parts[tp.Partition] = info
		}
		return out, nil
	}
	earliest, err := list(kafka.EarliestOffsetSpec)
	if err != nil {
		return err
	}
	latest, err := list(kafka.LatestOffsetSpec)
	if err != nil {
		return err
	}
	// The first record at or after time 0 is the earliest retained one.
	first, err := list(kafka.NewOffsetSpecForTimestamp(0))
	if err != nil {
		return err
	}
	for _, name := range topics {
		t := snap.Topics[name]
		o := &TopicOffsets{Earliest: make([]int64, t.Partitions), Latest: make([]int64, t.Partitions)}
		for p := 0; p < t.Partitions; p++ {
			o.Earliest[p] = int64(earliest[name][p].Offset)
			o.Latest[p] = int64(latest[name][p].Offset)
			if ts := first[name][p]; ts.Offset >= 0 && ts.Timestamp > 0 && o.Latest[p] > o.Earliest[p] {
				at := time.UnixMilli(ts.Timestamp).UTC()
				if o.Oldest.IsZero() || at.Before(o.Oldest) {
					o.Oldest = at
				}
			}
		}
		t.Offsets = o
	}
	return nil
}

// UncommittedEnds returns the end offset of each partition of topic as a
// read_uncommitted reader sees it: the high watermark, past the records
// of transactions not ended yet (or whose markers are not written yet),
// where Describe's Latest, read_committed, stops at the first of them.
func (c *Client) UncommittedEnds(ctx context.Context, topic string, partitions int) (map[int32]int64, error) {
	req := make(map[kafka.TopicPartition]kafka.OffsetSpec, partitions)
	for p := 0; p < partitions; p++ {
		req[kafka.TopicPartition{Topic: &topic, Partition: int32(p)}] = kafka.LatestOffsetSpec
	}
	res, err := c.listOffsets(ctx, req, kafka.IsolationLevelReadUncommitted)
	if err != nil {
		return nil, c.unreachable(ctx, fmt.Errorf("list offsets of %s: %w", topic, err))
	}
	out := make(map[int32]int64, partitions)
	for tp, info := range res.ResultInfos {
		out[tp.Partition] = int64(info.Offset)
	}
	return out, nil
}

// listOffsets lists the offsets req asks for, retrying what Kafka says
// may pass; an error of one partition fails the whole.
func (c *Client) listOffsets(ctx context.Context, req map[kafka.TopicPartition]kafka.OffsetSpec, isolation kafka.IsolationLevel) (kafka.ListOffsetsResult, error) {
	var res kafka.ListOffsetsResult
	err := retryRetriable(ctx, func() error {
		c.count()
		var err error
		res, err = c.admin.ListOffsets(ctx, req, kafka.SetAdminIsolationLevel(isolation))
		if err != nil {
			return err
		}
		for _, info := range res.ResultInfos {
			if info.Error.Code() != kafka.ErrNoError {
				return info.Error
			}
		}
		return nil
	})
	return res, err
}

// DescribeGroups lists every consumer group with its state, active members
// and committed offsets. Kafka answers committed offsets one group per
// request; those requests run a few at a time.
func (c *Client) DescribeGroups(ctx context.Context) ([]Group, error) {
	// A coordinator still loading its groups (a broker just started, or
	// took over the group coordinator) answers with a retriable error.
	var listed *kafka.ListConsumerGroupsResult
	err := retryRetriable(ctx, func() error {
		c.count()
		res, err := c.admin.ListConsumerGroups(ctx)
		if err != nil {
			return c.unreachable(ctx, err)
		}
		if len(res.Errors) > 0 {
			return res.Errors[0]
		}
		listed = &res
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list consumer groups: %w", err)
	}
	ids := make([]string, 0, len(listed.Valid))
	for _, g := range listed.Valid {
		ids = append(ids, g.GroupID)
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	var described *kafka.DescribeConsumerGroupsResult
	err = retryRetriable(ctx, func() error {
		c.count()
		res, err := c.admin.DescribeConsumerGroups(ctx, ids)
		if err != nil {
			return c.unreachable(ctx, err)
		}
		for _, d := range res.ConsumerGroupDescriptions {
			if d.Error.Code() != kafka.ErrNoError {
				return fmt.Errorf("describe consumer group %q: %w", d.GroupID, d.Error)
			}
		}
		described = &res
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe consumer groups: %w", err)
	}
	groups := make([]Group, len(ids))
	byID := map[string]int{}
	for i, id := range ids {
		groups[i] = Group{ID: id}
		byID[id] = i
	}
	for _, d := range described.ConsumerGroupDescriptions {
		g := &groups[byID[d.GroupID]]
		g.State = d.State.String()
		for _, m := range d.Members {
			member := Member{ClientID: m.ClientID, ConsumerID: m.ConsumerID, Host: m.Host}
			seen := map[string]bool{}
			for _, tp := range m.Assignment.TopicPartitions {
				if tp.Topic != nil && !seen[*tp.Topic] {
					seen[*tp.Topic] = true
					member.Topics = append(member.Topics, *tp.Topic)
				}
			}
			g.Members = append(g.Members, member)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, 8)
	)
	for i := range groups {
		wg.Add(1)
		go func(g *Group) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			offsets, err := c.GroupOffsets(ctx, g.ID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			g.Offsets = offsets
		}(&groups[i])
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return groups, nil
}

// GroupOffsets returns a group's committed offsets: topic → partition →
// offset.
func (c *Client) GroupOffsets(ctx context.Context, group string) (map[string]map[int32]int64, error) {
	var res kafka.ListConsumerGroupOffsetsResult
	// require_stable: offsets a transaction is still committing are waited
	// for (UNSTABLE_OFFSET_COMMIT is retried), never read half-done.
	err := retryRetriable(ctx, func() error {
		c.count()
		var err error
		if res, err = c.admin.ListConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group}}, kafka.SetAdminRequireStableOffsets(true)); err != nil {
			return err
		}
		for _, gtp := range res.ConsumerGroupsTopicPartitions {
			for _, tp := range gtp.Partitions {
				if tp.Error != nil {
					return tp.Error
				}
			}
		}
		return nil
	})
	var kerr kafka.Error
	if errors.As(err, &kerr) && kerr.Code() == kafka.ErrGroupIDNotFound {
		return map[string]map[int32]int64{}, nil // kfake's answer for a group that never committed.
	}
	if err != nil {
		return nil, c.unreachable(ctx, fmt.Errorf("committed offsets of group %q: %w", group, err))
	}
	out := map[string]map[int32]int64{}
	for _, gtp := range res.ConsumerGroupsTopicPartitions {
		for _, tp := range gtp.Partitions {
			if tp.Error != nil {
				return nil, fmt.Errorf("committed offset of group %q on %s/%d: %w", group, *tp.Topic, tp.Partition, tp.Error)
			}
			if tp.Offset < 0 {
				continue
			}
			if out[*tp.Topic] == nil {
				out[*tp.Topic] = map[int32]int64{}
			}
			out[*tp.Topic][tp.Partition] = int64(tp.Offset)
		}
	}
	return out, nil
}

// retriableCodes are errors worth retrying that librdkafka does not always
// flag retriable: a leader moving, a partition not ready, offsets a
// transaction is still committing, a group coordinator loading or moving,
// and the leader epochs of a topic just deleted and created again under
// the same name (apply after a rollback), which brokers and the client
// learn one after another.
var retriableCodes = map[kafka.ErrorCode]bool{
	kafka.ErrNotLeaderForPartition: true, kafka.ErrLeaderNotAvailable: true, kafka.ErrUnstableOffsetCommit: true,
	kafka.ErrCoordinatorLoadInProgress: true, kafka.ErrCoordinatorNotAvailable: true, kafka.ErrNotCoordinator: true,
	kafka.ErrUnknownLeaderEpoch: true, kafka.ErrFencedLeaderEpoch: true, kafka.ErrOffsetNotAvailable: true,
}

// retryRetriable runs call until it succeeds, fails with an error Kafka
// does not mark retriable (a leader moving, a partition not yet ready), or
// ctx ends.
func retryRetriable(ctx context.Context, call func() error) error {
	backoff := 50 * time.Millisecond
	for {
		err := call()
		var kerr kafka.Error
		if err == nil || !errors.As(err, &kerr) || !(kerr.IsRetriable() || retriableCodes[kerr.Code()]) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		if backoff < time.Second {
			backoff *= 2
		}
	}
}

// TopicIDs returns the topic ID (Kafka's topic UUID, as text) of each of
// names that exists. A topic deleted and created again under the same
// name has a new ID, so two equal IDs prove it is the same topic.
func (c *Client) TopicIDs(ctx context.Context, names []string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OperationTimeout())
	defer cancel()
	c.count()
	res, err := c.admin.DescribeTopics(ctx, kafka.NewTopicCollectionOfTopicNames(names))
	if err != nil {
		return nil, c.unreachable(ctx, fmt.Errorf("describe topics %v: %w", names, err))
	}
	out := map[string]string{}
	for _, d := range res.TopicDescriptions {
		switch d.Error.Code() {
		case kafka.ErrNoError:
			if id := d.TopicID; id.GetMostSignificantBits() != 0 || id.GetLeastSignificantBits() != 0 {
				out[d.Name] = id.String()
			}
		case kafka.ErrUnknownTopicOrPart, kafka.ErrUnknownTopic:
		default:
			return nil, fmt.Errorf("describe topic %q: %w", d.Name, d.Error)
		}
	}
	return out, nil
}
