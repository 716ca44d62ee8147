package clusterstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/state"
)

// LeaseInfo is a lease record: who holds the lease of a rename, since when
// and until when unless renewed.
type LeaseInfo struct {
	// Rename is the from topic of the rename leased.
	Rename string `json:"rename"`
	// Holder is who holds it.
	Holder Holder `json:"holder"`
	// Token identifies this holding of the lease (random, fresh for each
	// Acquire).
	Token string `json:"token"`
	// Since is when it was acquired.
	Since time.Time `json:"since"`
	// Expires is when it expires unless renewed before.
	Expires time.Time `json:"expires"`
}

// Expired reports whether the lease counts as expired at now.
func (i LeaseInfo) Expired(now time.Time) bool { return !now.Before(i.Expires) }

// ErrLeaseHeld is returned (wrapped) by Acquire when another holder holds a
// rename's lease; the error says who, from which host, since when, for
// which command and until when.
var ErrLeaseHeld = errors.New("lease held")

// ErrFenced is returned (wrapped) by a write of a lease that another holder
// took: nothing of the write was recorded.
var ErrFenced = errors.New("lease lost")

// leaseHeldError is an ErrLeaseHeld.
type leaseHeldError struct {
	rename string
	info   *LeaseInfo // nil when the winner is not known yet
	now    time.Time
}

func (e *leaseHeldError) Error() string {
	if e.info == nil {
		return fmt.Sprintf("rename %q: %s: another migrator acquired it at the same moment; run the command again to see who holds it", e.rename, ErrLeaseHeld)
	}
	i := e.info
	return fmt.Sprintf("rename %q: %s by %s (user %s on host %s) since %s for command %q (pid %d); it expires at %s (in %s) unless renewed; "+
		"wait for that command to finish, or --break-lease takes it (recorded in the audit log)",
		e.rename, ErrLeaseHeld, i.Holder.Actor(), i.Holder.User, i.Holder.Host, i.Since.Format(time.RFC3339), i.Holder.Command, i.Holder.PID,
		i.Expires.Format(time.RFC3339), i.Expires.Sub(e.now).Round(time.Second))
}

func (e *leaseHeldError) Is(target error) bool { return target == ErrLeaseHeld }

// fencedError is an ErrFenced.
type fencedError struct {
	rename string
	by     *LeaseInfo // the holder now, nil when it is not known
	why    string     // when by is nil
}

func (e *fencedError) Error() string {
	who := "another holder"
	switch {
	case e.by != nil:
		who = fmt.Sprintf("another holder, %s since %s", e.by.Holder, e.by.Since.Format(time.RFC3339))
	case e.why != "":
		who += " (" + e.why + ")"
	}
	return fmt.Sprintf("rename %q: %s: the lease of %s was taken by %s: nothing was recorded", e.rename, ErrFenced, e.rename, who)
}

func (e *fencedError) Is(target error) bool { return target == ErrFenced }

// Lease is the lease of one or more renames, held by this process until
// Release (or until another holder takes it).
type Lease struct {
	c       *Cluster
	token   string
	since   time.Time
	renames []string

	mu        sync.Mutex
	expires   time.Time
	prods     map[string]*producer // rename → its producer
	revs      map[string]int64     // rename → revision as last read or written, when it has a record
	lost      map[string]error     // rename → why it was lost (an ErrFenced)
	released  bool
	stopRenew chan struct{}
	renewDone chan struct{}
	stopOnce  sync.Once
}

// Renames returns the renames leased, sorted.
func (l *Lease) Renames() []string { return slices.Clone(l.renames) }

// Info returns the lease record of each rename as last written.
func (l *Lease) Info() []LeaseInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]LeaseInfo, len(l.renames))
	for i, r := range l.renames {
		out[i] = l.info(r)
	}
	return out
}

func (l *Lease) info(rename string) LeaseInfo {
	return LeaseInfo{Rename: rename, Holder: l.c.opts.Holder, Token: l.token, Since: l.since, Expires: l.expires}
}

// heldBy returns the lease record that refuses an acquisition of rename:
// one of another token that has not expired at now.
func heldBy(v stateView, rename, token string, now time.Time) *LeaseInfo {
	li, ok := v.leases[rename]
	if !ok || li.Token == token || li.Expired(now) {
		return nil
	}
	return &li
}

// Acquire takes the lease of every rename in renames (see the package
// documentation for how), or of none. A rename whose lease another holder
// holds and has not let expire refuses it with ErrLeaseHeld, unless
// breakLease, which takes it anyway and records so in the audit log; a
// lease taken after it expired is recorded too. The lease is renewed in
// the background every LeaseTTL/3 until Release.
func (c *Cluster) Acquire(ctx context.Context, renames []string, breakLease bool) (*Lease, error) {
	names := sortedUnique(renames)
	if len(names) == 0 {
		return nil, errors.New("acquire a lease: no rename given")
	}
	for _, n := range names {
		if n == "" {
			return nil, errors.New("acquire a lease: a rename with no name")
		}
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, errors.New("acquire a lease: the cluster state is closed")
	}

	// 1. Refuse a lease held by another, without fencing its holder.
	v, err := c.readState(ctx, 0)
	if err != nil {
		return nil, err
	}
	if !breakLease {
		if err := refuseHeld(v, names, "", c.now()); err != nil {
			return nil, err
		}
	}

	// 2. Fence any older producer of each rename.
	prods := map[string]*producer{}
	closeAll := func() {
		for _, p := range prods {
			p.close()
		}
	}
	for _, n := range names {
		p, err := c.newProducer(ctx, TransactionalIDPrefix+n)
		if err != nil {
			closeAll()
			return nil, err
		}
		prods[n] = p
	}

	// 3. Check again: a holder that committed its lease meanwhile wins.
	if v, err = c.readState(ctx, 0); err != nil {
		closeAll()
		return nil, err
	}
	now := c.now()
	if !breakLease {
		if err := refuseHeld(v, names, "", now); err != nil {
			closeAll()
			return nil, err
		}
	}

	// 4. Write the lease records, and the audit entries of leases taken
	// from another holder.
	l := &Lease{
		c: c, token: newToken(), since: now, renames: names, expires: now.Add(c.opts.LeaseTTL),
		prods: prods, revs: map[string]int64{}, lost: map[string]error{},
		stopRenew: make(chan struct{}), renewDone: make(chan struct{}),
	}
	var txns []*txn
	for _, n := range names {
		t := &txn{rename: n, p: prods[n]}
		rec, err := l.leaseRecord(n)
		if err != nil {
			closeAll()
			return nil, err
		}
		t.msgs = append(t.msgs, rec)
		if prev, ok := v.leases[n]; ok && prev.Token != "" {
			action, detail := "take expired lease", fmt.Sprintf("took the lease of %q, held by %s since %s, which expired at %s",
				n, prev.Holder, prev.Since.Format(time.RFC3339), prev.Expires.Format(time.RFC3339))
			if !prev.Expired(now) {
				action, detail = "break lease", fmt.Sprintf("broke the lease of %q held by %s since %s, expiring at %s (--break-lease)",
					n, prev.Holder, prev.Since.Format(time.RFC3339), prev.Expires.Format(time.RFC3339))
			}
			m, err := c.auditMessage(state.AuditEntry{
				Time: now, Actor: c.opts.Holder.Actor(), Command: c.opts.Holder.Command,
				Rename: n, Action: action, Detail: detail, Result: "ok",
			})
			if err != nil {
				closeAll()
				return nil, err
			}
			t.msgs = append(t.msgs, m)
		}
		txns = append(txns, t)
	}
	committed, err := c.commit(ctx, txns)
	if err != nil {
		l.unwind(ctx, txns[:committed])
		closeAll()
		if f, ok := fencedIn(txns[committed:]); ok {
			// Another acquirer initialised the producer after us.
			return nil, c.heldAfterRace(ctx, f.rename, l.token)
		}
		// A commit that failed otherwise (a real broker may answer the
		// EndTxn of a producer fenced mid-commit with an error librdkafka
		// does not name) lost the race too when another holder's lease is
		// the latest now.
		if committed < len(txns) {
			n := txns[committed].rename
			if v, rerr := c.readState(ctx, 0); rerr == nil {
				if li, ok := v.leases[n]; ok && li.Token != l.token && !li.Expired(c.now()) {
					return nil, &leaseHeldError{rename: n, info: &li, now: c.now()}
				}
			}
			var kerr kafka.Error
			if errors.As(err, &kerr) && (kerr.Code() == kafka.ErrUnknown || kerr.IsFatal() || kerr.TxnRequiresAbort()) {
				// Fenced by a racer whose lease record is not written yet.
				return nil, fmt.Errorf("%w (the commit failed: %v)", &leaseHeldError{rename: n}, err)
			}
		}
		return nil, err
	}

	// 5. Read back past our records: the latest lease record must be ours.
	var end int64
	for _, t := range txns {
		end = max(end, t.offsets[0]+1)
	}
	if v, err = c.readState(ctx, end); err != nil {
		l.unwind(ctx, txns)
		closeAll()
		return nil, err
	}
	var lostTo *leaseHeldError
	var ours []*txn
	for i, n := range names {
		li, ok := v.leases[n]
		switch {
		case ok && li.Token == l.token:
			ours = append(ours, txns[i])
		case lostTo != nil:
		case ok:
			lostTo = &leaseHeldError{rename: n, info: &li, now: c.now()}
		default:
			lostTo = &leaseHeldError{rename: n}
		}
		if rev, ok := v.revs[n]; ok {
			l.revs[n] = rev
		}
	}
	if lostTo != nil {
		// Free only what is still ours: never the winner's record.
		l.unwind(ctx, ours)
		closeAll()
		return nil, lostTo
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		l.unwind(ctx, txns)
		closeAll()
		return nil, errors.New("acquire a lease: the cluster state was closed meanwhile")
	}
	c.leases[l] = struct{}{}
	c.mu.Unlock()
	if c.opts.noAutoRenew {
		close(l.renewDone)
	} else {
		go l.renewLoop()
	}
	return l, nil
}

// refuseHeld returns the ErrLeaseHeld of the first of names whose lease
// another holder holds.
func refuseHeld(v stateView, names []string, token string, now time.Time) error {
	for _, n := range names {
		if li := heldBy(v, n, token, now); li != nil {
			return &leaseHeldError{rename: n, info: li, now: now}
		}
	}
	return nil
}

// heldAfterRace explains an acquisition whose producer was fenced by a
// concurrent one: it names the winner when its lease is visible already.
func (c *Cluster) heldAfterRace(ctx context.Context, rename, token string) error {
	v, err := c.readState(ctx, 0)
	if err == nil {
		if li, ok := v.leases[rename]; ok && li.Token != token {
			return &leaseHeldError{rename: rename, info: &li, now: c.now()}
		}
	}
	return &leaseHeldError{rename: rename}
}

// unwind frees, best effort, the leases an Acquire that failed wrote.
func (l *Lease) unwind(ctx context.Context, txns []*txn) {
	for _, t := range txns {
		m := l.c.stateMessage(leaseKeyPrefix+t.rename, nil)
		if _, err := l.c.commit(ctx, []*txn{{rename: t.rename, p: t.p, msgs: []*kafka.Message{m}}}); err != nil {
			l.c.log.Debug("free a lease not acquired", "rename", t.rename, "err", err)
		}
	}
}

// leaseRecord is the lease record of rename as held now.
func (l *Lease) leaseRecord(rename string) (*kafka.Message, error) {
	v, err := json.Marshal(l.info(rename))
	if err != nil {
		return nil, fmt.Errorf("encode the lease of %q: %w", rename, err)
	}
	return l.c.stateMessage(leaseKeyPrefix+rename, v), nil
}

// newToken returns a random lease token.
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Publish records renames and audit in the cluster, in transactions of
// the lease's producers (see the package documentation), before the state
// file commits them: it implements state.Replica. Every rename must be
// leased, and its revision above the cluster's (as last read, plus this
// lease's own writes), else the local cache is stale and nothing is
// written. A lease another holder took fails it with ErrFenced.
func (l *Lease) Publish(ctx context.Context, renames []state.Rename, audit []state.AuditEntry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.publish(ctx, renames, audit)
}

func (l *Lease) publish(ctx context.Context, renames []state.Rename, audit []state.AuditEntry) error {
	if len(renames) == 0 && len(audit) == 0 {
		return nil
	}
	if l.released {
		return fmt.Errorf("publish to the cluster: the lease of %s was released", strings.Join(l.renames, ", "))
	}
	for _, r := range renames {
		if _, ok := l.prods[r.From]; !ok {
			return fmt.Errorf("publish rename %q to the cluster: it is not leased by this process (leased: %s)", r.From, strings.Join(l.renames, ", "))
		}
		if err := l.lost[r.From]; err != nil {
			return err
		}
	}
	// The audit entries go with the first rename written (else the first
	// leased), in one transaction, so that they keep their order.
	primary := l.renames[0]
	if len(renames) > 0 {
		primary = slices.MinFunc(renames, func(a, b state.Rename) int { return strings.Compare(a.From, b.From) }).From
	}
	if err := l.lost[primary]; err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		for _, r := range renames {
			own, written := l.revs[r.From]
			cached, recorded := l.c.cachedRev(r.From)
			if known := max(own, cached); (written || recorded) && r.Revision <= known {
				return fmt.Errorf("publish rename %q to the cluster: the local cache is stale: it would record revision %d but the cluster holds revision %d; "+
					"pull a fresh copy with `migrator state pull` (nothing was recorded)", r.From, r.Revision, known)
			}
		}
		txns, err := l.publishTxns(primary, renames, audit)
		if err != nil {
			return err
		}
		committed, err := l.c.commit(ctx, txns)
		for _, t := range txns[:committed] {
			for _, r := range renames {
				if r.From == t.rename {
					l.revs[r.From] = r.Revision
				}
			}
		}
		if err == nil {
			return nil
		}
		if committed > 0 {
			var done, not []string
			for i, t := range txns {
				if i < committed {
					done = append(done, t.rename)
				} else {
					not = append(not, t.rename)
				}
			}
			return fmt.Errorf("publish to the cluster: renames %s were recorded in the cluster, %s were not: %w; pull a fresh copy with `migrator state pull`",
				strings.Join(done, ", "), strings.Join(not, ", "), err)
		}
		f, fenced := fencedIn(txns)
		if !fenced {
			return err
		}
		if attempt >= 2 {
			return &fencedError{rename: f.rename, why: fmt.Sprintf("its producer was fenced again each time it was taken back: %v", err)}
		}
		if rerr := l.reclaim(ctx, f.rename); rerr != nil {
			return rerr
		}
	}
}

// publishTxns builds one transaction per rename written, plus the audit
// entries with primary's.
func (l *Lease) publishTxns(primary string, renames []state.Rename, audit []state.AuditEntry) ([]*txn, error) {
	byRename := map[string]*txn{}
	var txns []*txn
	get := func(n string) *txn {
		if t, ok := byRename[n]; ok {
			return t
		}
		t := &txn{rename: n, p: l.prods[n]}
		byRename[n] = t
		txns = append(txns, t)
		return t
	}
	get(primary)
	for i := range renames {
		r := &renames[i]
		v, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode rename %q: %w", r.From, err)
		}
		t := get(r.From)
		t.msgs = append(t.msgs, l.c.stateMessage(renameKeyPrefix+r.From, v))
	}
	for _, e := range audit {
		m, err := l.c.auditMessage(e)
		if err != nil {
			return nil, err
		}
		byRename[primary].msgs = append(byRename[primary].msgs, m)
	}
	return txns, nil
}

// reclaim takes back the producer of rename after it was fenced, when the
// latest lease record of rename is still this lease's and has not expired
// (a concurrent acquirer that lost fenced it); otherwise the lease was
// taken: the rename is marked lost and its ErrFenced returned.
func (l *Lease) reclaim(ctx context.Context, rename string) error {
	v, err := l.c.readState(ctx, 0)
	if err != nil {
		return err
	}
	if err := l.stillOurs(v, rename); err != nil {
		return err
	}
	p, err := l.c.newProducer(ctx, TransactionalIDPrefix+rename)
	if err != nil {
		return err
	}
	if v, err = l.c.readState(ctx, 0); err != nil {
		p.close()
		return err
	}
	if err := l.stillOurs(v, rename); err != nil {
		p.close()
		return err
	}
	l.prods[rename].close()
	l.prods[rename] = p
	if rev, ok := v.revs[rename]; ok {
		l.revs[rename] = max(l.revs[rename], rev)
	}
	l.c.log.Debug("lease producer taken back after a concurrent acquirer fenced it", "rename", rename)
	return nil
}

// stillOurs checks that the latest lease record of rename is this lease's
// and has not expired; else it marks the rename lost.
func (l *Lease) stillOurs(v stateView, rename string) error {
	li, ok := v.leases[rename]
	var err error
	switch {
	case ok && li.Token != l.token:
		err = &fencedError{rename: rename, by: &li}
	case !ok:
		err = &fencedError{rename: rename, why: "its lease record was freed"}
	case li.Expired(l.c.now()):
		err = &fencedError{rename: rename, why: fmt.Sprintf("this lease expired at %s without being renewed", li.Expires.Format(time.RFC3339))}
	}
	if err != nil {
		l.lost[rename] = err
	}
	return err
}

// Renew extends the lease of every rename held to LeaseTTL from now. It
// is done in the background every LeaseTTL/3 while the lease is held.
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("renew the lease of %s: it was released", strings.Join(l.renames, ", "))
	}
	l.expires = l.c.now().Add(l.c.opts.LeaseTTL)
	var errs []error
	for _, n := range l.renames {
		if err := l.lost[n]; err != nil {
			errs = append(errs, err)
			continue
		}
		if err := l.writeLease(ctx, n, true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writeLease writes the lease record of rename (free: a tombstone), taking
// the producer back once when a concurrent acquirer fenced it.
func (l *Lease) writeLease(ctx context.Context, rename string, held bool) error {
	for attempt := 0; ; attempt++ {
		m := l.c.stateMessage(leaseKeyPrefix+rename, nil)
		if held {
			var err error
			if m, err = l.leaseRecord(rename); err != nil {
				return err
			}
		}
		t := &txn{rename: rename, p: l.prods[rename], msgs: []*kafka.Message{m}}
		_, err := l.c.commit(ctx, []*txn{t})
		if err == nil {
			return nil
		}
		if !t.fenced {
			return err
		}
		if attempt >= 2 {
			return &fencedError{rename: rename, why: fmt.Sprintf("its producer was fenced again each time it was taken back: %v", err)}
		}
		if rerr := l.reclaim(ctx, rename); rerr != nil {
			return rerr
		}
	}
}

// renewLoop renews the lease every LeaseTTL/3 until it is released or
// abandoned, or lost.
func (l *Lease) renewLoop() {
	defer close(l.renewDone)
	tick := time.NewTicker(l.c.opts.LeaseTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-l.stopRenew:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.c.opts.Config.OperationTimeout())
		err := l.Renew(ctx)
		cancel()
		if err != nil {
			l.c.log.Warn("renewing a lease failed", "renames", strings.Join(l.renames, ","), "err", err)
			l.mu.Lock()
			allLost := len(l.lost) == len(l.renames)
			l.mu.Unlock()
			if allLost {
				return
			}
		}
	}
}

func (l *Lease) stopRenewing() {
	l.stopOnce.Do(func() { close(l.stopRenew) })
	<-l.renewDone
}

// Release frees the lease of every rename still held (a tombstone record)
// and closes its producers. A rename whose lease another holder took is
// left to it, and its ErrFenced returned.
func (l *Lease) Release(ctx context.Context) error {
	l.stopRenewing()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	var errs []error
	for _, n := range l.renames {
		if err := l.lost[n]; err != nil {
			errs = append(errs, err)
			continue
		}
		if err := l.writeLease(ctx, n, false); err != nil {
			errs = append(errs, err)
		}
	}
	l.closeProducers()
	return errors.Join(errs...)
}

// abandon stops renewing and closes the producers without freeing the
// lease, which then expires: what a process that dies leaves.
func (l *Lease) abandon() {
	l.stopRenewing()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.released {
		l.closeProducers()
	}
}

// closeProducers closes the producers and forgets the lease; l.mu held.
func (l *Lease) closeProducers() {
	l.released = true
	for _, p := range l.prods {
		p.close()
	}
	l.c.mu.Lock()
	delete(l.c.leases, l)
	l.c.mu.Unlock()
}

var _ state.Replica = (*Lease)(nil)
