package clusterstate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/huleedu/topic-migrator/state"
)

// Push writes the renames and audit entries of snap (a state file's
// Export) to the cluster: `migrator state push`. It refuses, writing
// nothing, when the cluster holds a rename at a higher revision than
// snap's, or a different record at the same revision; a rename the
// cluster holds as it is in snap is not written again, and neither is an
// audit entry the cluster's log has already (all its fields but Seq
// equal), so pushing twice writes nothing the second time.
//
// Push takes the leases of the renames it writes for the time it writes
// them (ErrLeaseHeld when another holder has one; the caller must not
// hold them itself), and writes audit entries with the first of them.
func (c *Cluster) Push(ctx context.Context, snap *state.Snapshot) error {
	if snap == nil {
		return errors.New("push the state: no snapshot")
	}
	v, err := c.readState(ctx, 0)
	if err != nil {
		return err
	}
	write, err := renamesToPush(v, snap.Renames)
	if err != nil {
		return err
	}
	var names []string
	for _, r := range write {
		names = append(names, r.From)
	}
	var l *Lease
	if len(names) > 0 {
		if l, err = c.Acquire(ctx, names, false); err != nil {
			return fmt.Errorf("push the state: %w", err)
		}
		defer func() {
			if rerr := l.Release(context.WithoutCancel(ctx)); rerr != nil {
				c.log.Warn("release the leases of a push", "err", rerr)
			}
		}()
		// Check again with what the acquisition read.
		if v, err = c.readState(ctx, 0); err != nil {
			return err
		}
		if write, err = renamesToPush(v, snap.Renames); err != nil {
			return err
		}
	}
	audit, err := c.auditToPush(ctx, snap.Audit)
	if err != nil {
		return err
	}
	if l != nil {
		return l.Publish(ctx, write, audit)
	}
	if len(audit) == 0 {
		return nil
	}
	p, err := c.newProducer(ctx, pushTransactionalID)
	if err != nil {
		return err
	}
	defer p.close()
	t := &txn{p: p}
	for _, e := range audit {
		m, err := c.auditMessage(e)
		if err != nil {
			return err
		}
		t.msgs = append(t.msgs, m)
	}
	_, err = c.commit(ctx, []*txn{t})
	return err
}

// renamesToPush returns the renames of a file to write to a cluster that
// holds v, or why none may be.
func renamesToPush(v stateView, renames []state.Rename) ([]state.Rename, error) {
	var write []state.Rename
	var errs []error
	for _, r := range renames {
		if r.From == "" {
			return nil, errors.New("push the state: a rename with no from topic")
		}
		raw, ok := v.renames[r.From]
		if !ok {
			write = append(write, r)
			continue
		}
		var cr state.Rename
		if err := json.Unmarshal(raw, &cr); err != nil {
			return nil, fmt.Errorf("push the state: the cluster's record of rename %q: %w", r.From, err)
		}
		switch {
		case cr.Revision > r.Revision:
			errs = append(errs, fmt.Errorf("rename %q: the cluster holds revision %d, newer than the file's %d", r.From, cr.Revision, r.Revision))
		case cr.Revision == r.Revision:
			same, err := sameRename(cr, r)
			if err != nil {
				return nil, err
			}
			if !same {
				errs = append(errs, fmt.Errorf("rename %q: the cluster holds another record at the same revision %d", r.From, r.Revision))
			}
		default:
			write = append(write, r)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("push the state: nothing was written: %w; pull a fresh copy with `migrator state pull`", errors.Join(errs...))
	}
	return write, nil
}

// auditToPush returns the entries of audit the cluster's log does not hold.
func (c *Cluster) auditToPush(ctx context.Context, audit []state.AuditEntry) ([]state.AuditEntry, error) {
	have := map[string]int{}
	err := c.audit.read(ctx, 0, func() {
		for _, e := range c.entries {
			have[auditIdentity(e)]++
		}
	})
	if err != nil {
		return nil, err
	}
	var out []state.AuditEntry
	for _, e := range audit {
		id := auditIdentity(e)
		if have[id] > 0 {
			have[id]--
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// auditIdentity is an audit entry but its Seq.
func auditIdentity(e state.AuditEntry) string {
	e.Seq = 0
	e.Time = e.Time.UTC()
	b, _ := json.Marshal(e)
	return string(b)
}

// sameRename reports whether a and b are the same record.
func sameRename(a, b state.Rename) (bool, error) {
	ja, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	jb, err := json.Marshal(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ja, jb), nil
}

// Sync brings the state file st, the cache, up to the cluster's snap for
// the renames leased: a rename the cluster holds at a higher revision (or
// the file not at all) is imported into the file, audit log untouched. It
// refuses, changing nothing, when the file holds a rename at a higher
// revision than the cluster (or one the cluster does not hold): changes
// that were never published. A command calls it after Acquire, with a
// Snapshot read after it, before it changes anything.
func Sync(ctx context.Context, st *state.Store, snap *state.Snapshot, renames []string) error {
	if snap == nil {
		return errors.New("sync the state file: no snapshot")
	}
	cluster := map[string]state.Rename{}
	for _, r := range snap.Renames {
		cluster[r.From] = r
	}
	var imp []state.Rename
	var errs []error
	for _, n := range sortedUnique(renames) {
		cr, inCluster := cluster[n]
		lr, inFile, err := st.Rename(ctx, n)
		if err != nil {
			return err
		}
		switch {
		case !inFile && !inCluster:
		case !inFile:
			imp = append(imp, cr)
		case !inCluster:
			errs = append(errs, localAhead(st, n, lr.Revision, 0, " (the cluster has no record of it)"))
		case lr.Revision > cr.Revision:
			errs = append(errs, localAhead(st, n, lr.Revision, cr.Revision, ""))
		case lr.Revision < cr.Revision:
			imp = append(imp, cr)
		default:
			same, err := sameRename(*lr, cr)
			if err != nil {
				return err
			}
			if !same {
				errs = append(errs, fmt.Errorf("rename %q: the local cache %s and the cluster hold different records at the same revision %d: "+
					"pull a fresh copy with `migrator state pull`", n, st.Path(), cr.Revision))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(imp) == 0 {
		return nil
	}
	return st.Import(ctx, &state.Snapshot{Renames: imp}, false)
}

func localAhead(st *state.Store, rename string, local, cluster int64, note string) error {
	return fmt.Errorf("rename %q: the local cache %s holds changes the cluster does not have (revision %d > %d)%s: "+
		"push them with `migrator state push` or pull a fresh copy with `migrator state pull`", rename, st.Path(), local, cluster, note)
}

// Pull makes the state file st hold the cluster's state: every rename as
// the cluster holds it (revisions included) and the cluster's audit log
// in place of the file's. A rename only the file holds is kept (a state
// file cannot forget a rename); pull into a new file for an exact copy.
func Pull(ctx context.Context, c *Cluster, st *state.Store) error {
	snap, _, err := c.Snapshot(ctx)
	if err != nil {
		return err
	}
	return st.Import(ctx, snap, true)
}
