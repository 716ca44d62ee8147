package clusterstate

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/state"
)

// TestLeaseRefusedWhileHeld: a second holder is refused, told who holds
// the lease, from where, since when and for which command; once the first
// releases it, the second acquires it.
func TestLeaseRefusedWhileHeld(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, kc *kafkatest.Cluster) {
		ctx := testCtx(t)
		a := openCluster(t, kc, alice)
		b := openCluster(t, kc, bob)
		la := acquire(t, a, false, "orders")
		since := la.Info()[0].Since

		_, err := b.Acquire(ctx, []string{"orders"}, false)
		if !errors.Is(err, ErrLeaseHeld) {
			t.Fatalf("second Acquire: %v, want ErrLeaseHeld", err)
		}
		for _, want := range []string{"alice@laptop-a", "host laptop-a", `"migrator cutover producers"`, since.Format(time.RFC3339),
			"expires at", "--break-lease takes it (recorded in the audit log)"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("ErrLeaseHeld %q does not say %q", err, want)
			}
		}
		// A lease of several renames is all or nothing.
		if _, err := b.Acquire(ctx, []string{"invoices", "orders"}, false); !errors.Is(err, ErrLeaseHeld) {
			t.Fatalf("Acquire of invoices and orders: %v, want ErrLeaseHeld", err)
		}
		_, leases := snapshot(t, b)
		if li := leases["orders"]; li.Holder != alice || li.Token == "" || !li.Expires.After(li.Since) {
			t.Errorf("lease in the cluster: %+v, want alice's", li)
		}
		if li, ok := leases["invoices"]; ok {
			t.Errorf("a refused Acquire left a lease of invoices: %+v", li)
		}

		if err := la.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if _, leases := snapshot(t, b); len(leases) != 0 {
			t.Errorf("leases after Release: %+v, want none", leases)
		}
		lb := acquire(t, b, false, "orders")
		if _, leases := snapshot(t, a); leases["orders"].Holder != bob || leases["orders"].Token != lb.token {
			t.Errorf("lease after bob acquired: %+v, want bob's", leases["orders"])
		}
		if err := lb.Release(ctx); err != nil {
			t.Fatal(err)
		}
		// A released lease is not written again; releasing twice is fine.
		if err := lb.Release(ctx); err != nil {
			t.Errorf("second Release: %v", err)
		}
		if err := lb.Publish(ctx, nil, []state.AuditEntry{{Action: "x"}}); err == nil {
			t.Error("Publish after Release succeeded")
		}
	})
}

// TestLeaseExpires: a holder that stopped renewing keeps its lease until
// it expires, then another acquires it, and the audit log says it took an
// expired lease. One holder crashed (closed without releasing), the other
// is a zombie (stopped, then woken): its writes are fenced.
func TestLeaseExpires(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, kc *kafkatest.Cluster) {
		ctx := testCtx(t)
		stopped := func(o *Options) { o.LeaseTTL = 2 * time.Second; o.noAutoRenew = true }
		crashed := openCluster(t, kc, alice, stopped)
		zombieHolder := alice
		zombieHolder.PID = 102
		zombie := openCluster(t, kc, zombieHolder, stopped)
		var frozen atomic.Pointer[time.Time]
		b := openCluster(t, kc, bob, func(o *Options) {
			o.now = func() time.Time {
				if f := frozen.Load(); f != nil {
					return *f
				}
				return time.Now()
			}
		})
		first := acquire(t, crashed, false, "orders").Info()[0]
		lz := acquire(t, zombie, false, "payments")
		crashed.Close() // neither renewed nor released

		// Before they expire (b's clock stopped when the first was
		// acquired): refused.
		frozen.Store(&first.Since)
		both := []string{"orders", "payments"}
		if _, err := b.Acquire(ctx, both, false); !errors.Is(err, ErrLeaseHeld) {
			t.Fatalf("Acquire before expiry: %v, want ErrLeaseHeld", err)
		}
		// On the real clock, refused until both expire.
		frozen.Store(nil)
		var lb *Lease
		for lb == nil {
			l, err := b.Acquire(ctx, both, false)
			switch {
			case err == nil:
				lb = l
			case !errors.Is(err, ErrLeaseHeld):
				t.Fatalf("Acquire: %v", err)
			case ctx.Err() != nil:
				t.Fatalf("the leases never expired: %v", err)
			default:
				time.Sleep(100 * time.Millisecond) // poll
			}
		}
		now := time.Now()
		for _, li := range []LeaseInfo{first, lz.Info()[0]} {
			if now.Before(li.Expires) {
				t.Errorf("acquired at %s, before the lease of %s expired at %s", now, li.Rename, li.Expires)
			}
		}
		snap, leases := snapshot(t, b)
		for _, n := range both {
			if leases[n].Holder != bob || leases[n].Token != lb.token {
				t.Errorf("lease of %s: %+v, want bob's", n, leases[n])
			}
		}
		var took []string
		for _, e := range snap.Audit {
			if e.Action == "take expired lease" && e.Actor == "bob@laptop-b" && strings.Contains(e.Detail, "alice@laptop-a") {
				took = append(took, e.Rename)
			}
		}
		if !slices.Equal(took, both) {
			t.Errorf("audit log %+v: bob took expired leases of %v, want %v", snap.Audit, took, both)
		}

		// The zombie wakes up and writes: fenced, nothing recorded.
		r := state.Rename{From: "payments", To: "payments.v2", Strategy: "dual", Revision: 1, Phase: state.PhasePlanned}
		if err := lz.Publish(ctx, []state.Rename{r}, nil); !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "bob@laptop-b") {
			t.Errorf("the zombie's Publish: %v, want ErrFenced naming bob", err)
		}
		if snap, _ := snapshot(t, b); len(snap.Renames) != 0 {
			t.Errorf("renames after the zombie's Publish: %+v, want none", snap.Renames)
		}
	})
}

// TestLeaseTakenBack: a producer fenced by an acquirer that then backed
// off (its lease record is still the latest) is taken back at the next
// write; a lease of two renames publishes both.
func TestLeaseTakenBack(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, kc *kafkatest.Cluster) {
		ctx := testCtx(t)
		a := openCluster(t, kc, alice)
		b := openCluster(t, kc, bob)
		la := acquire(t, a, false, "orders", "payments")
		// What a losing racer does: initialise the producer, then see the
		// lease and back off.
		for _, n := range []string{"orders", "payments"} {
			p, err := b.newProducer(ctx, TransactionalIDPrefix+n)
			if err != nil {
				t.Fatal(err)
			}
			p.close()
		}
		renames := []state.Rename{
			{From: "orders", To: "orders.v2", Strategy: "dual", Revision: 1, Phase: state.PhasePlanned},
			{From: "payments", To: "payments.v2", Strategy: "swap", Revision: 1, Phase: state.PhasePlanned},
		}
		audit := []state.AuditEntry{{Actor: "alice@laptop-a", Rename: "orders", Action: "plan", Result: "ok"}, {Actor: "alice@laptop-a", Action: "note", Result: "ok"}}
		if err := la.Publish(ctx, renames, audit); err != nil {
			t.Fatalf("Publish after a racer fenced the producers: %v", err)
		}
		snap, _ := snapshot(t, b)
		if len(snap.Renames) != 2 || snap.Renames[0].From != "orders" || snap.Renames[1].From != "payments" {
			t.Errorf("renames %+v, want orders and payments", snap.Renames)
		}
		if len(snap.Audit) != 2 || snap.Audit[0].Action != "plan" || snap.Audit[1].Action != "note" || snap.Audit[1].Seq != 2 {
			t.Errorf("audit %+v, want plan then note", snap.Audit)
		}
		if err := la.Renew(ctx); err != nil {
			t.Errorf("Renew: %v", err)
		}
		if err := la.Release(ctx); err != nil {
			t.Errorf("Release: %v", err)
		}
		if _, leases := snapshot(t, b); len(leases) != 0 {
			t.Errorf("leases after Release: %+v", leases)
		}
	})
}

// TestLeaseFencing: a holder whose lease was broken cannot write: its
// Publish fails with ErrFenced and nothing of it reaches the state topic;
// the audit log has the break; its Release leaves the new holder's lease.
func TestLeaseFencing(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, kc *kafkatest.Cluster) {
		ctx := testCtx(t)
		a := openCluster(t, kc, alice)
		b := openCluster(t, kc, bob)
		la := acquire(t, a, false, "orders")
		lb := acquire(t, b, true, "orders")

		r := state.Rename{From: "orders", To: "orders.v2", Strategy: "dual", Revision: 1, Phase: state.PhasePlanned}
		err := la.Publish(ctx, []state.Rename{r}, []state.AuditEntry{{Actor: "alice@laptop-a", Rename: "orders", Action: "zombie write", Result: "ok"}})
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("Publish by the former holder: %v, want ErrFenced", err)
		}
		for _, want := range []string{"lease lost", "the lease of orders was taken by another holder", "bob@laptop-b", "nothing was recorded"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("ErrFenced %q does not say %q", err, want)
			}
		}
		snap, leases := snapshot(t, b)
		if len(snap.Renames) != 0 {
			t.Errorf("state topic holds %+v after a fenced publish, want nothing", snap.Renames)
		}
		for _, m := range kc.ReadPartition(t, b.opts.StateTopic, 0) {
			if strings.HasPrefix(string(m.Key), renameKeyPrefix) {
				t.Errorf("state topic record %q = %s after a fenced publish", m.Key, m.Value)
			}
		}
		var breaks int
		for _, e := range snap.Audit {
			switch e.Action {
			case "zombie write":
				t.Errorf("the fenced holder's audit entry is in the log: %+v", e)
			case "break lease":
				breaks++
				if e.Actor != "bob@laptop-b" || e.Rename != "orders" || !strings.Contains(e.Detail, "alice@laptop-a") || e.Command != bob.Command {
					t.Errorf("break entry %+v, want bob breaking alice's lease of orders", e)
				}
			}
		}
		if breaks != 1 {
			t.Errorf("%d break lease entries in %+v, want 1", breaks, snap.Audit)
		}
		if err := la.Renew(ctx); !errors.Is(err, ErrFenced) {
			t.Errorf("Renew by the former holder: %v, want ErrFenced", err)
		}
		if err := la.Release(ctx); !errors.Is(err, ErrFenced) {
			t.Errorf("Release by the former holder: %v, want ErrFenced", err)
		}
		if _, leases = snapshot(t, b); leases["orders"].Token != lb.token {
			t.Errorf("lease after the former holder's Release: %+v, want bob's", leases["orders"])
		}
		// The new holder writes.
		if err := lb.Publish(ctx, []state.Rename{r}, nil); err != nil {
			t.Fatalf("Publish by the new holder: %v", err)
		}
		if snap, _ := snapshot(t, a); len(snap.Renames) != 1 || snap.Renames[0].Revision != 1 {
			t.Errorf("renames %+v, want bob's at revision 1", snap.Renames)
		}
		// A stale cache is refused, and so is a rename not leased.
		if err := lb.Publish(ctx, []state.Rename{r}, nil); err == nil || !strings.Contains(err.Error(), "stale") {
			t.Errorf("Publish of the same revision again: %v, want a stale cache", err)
		}
		other := state.Rename{From: "payments", To: "payments.v2", Strategy: "dual", Revision: 1, Phase: state.PhasePlanned}
		if err := lb.Publish(ctx, []state.Rename{other}, nil); err == nil || !strings.Contains(err.Error(), "not leased") {
			t.Errorf("Publish of a rename not leased: %v, want refused", err)
		}
	})
}

// TestLeaseRace: 20 processes race for one lease; exactly one gets it,
// the others ErrLeaseHeld; three rounds.
func TestLeaseRace(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, kc *kafkatest.Cluster) {
		ctx := testCtx(t)
		const n = 20
		clusters := make([]*Cluster, n)
		var opening sync.WaitGroup
		for i := range clusters {
			opening.Add(1)
			go func() {
				defer opening.Done()
				h := alice
				h.PID = 1000 + i
				c, err := Open(ctx, Options{Config: kc.Config(), Holder: h, Log: quiet})
				if err != nil {
					t.Errorf("Open %d: %v", i, err)
					return
				}
				t.Cleanup(c.Close)
				clusters[i] = c
			}()
		}
		opening.Wait()
		if t.Failed() {
			t.FailNow()
		}
		for round := range 3 {
			start := make(chan struct{})
			leases := make([]*Lease, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i, c := range clusters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					leases[i], errs[i] = c.Acquire(ctx, []string{"orders"}, false)
				}()
			}
			close(start)
			wg.Wait()
			var winner *Lease
			for i, err := range errs {
				switch {
				case err == nil && winner != nil:
					t.Fatalf("round %d: two winners (%d too)", round, i)
				case err == nil:
					winner = leases[i]
				case !errors.Is(err, ErrLeaseHeld):
					t.Fatalf("round %d: Acquire %d: %v, want ErrLeaseHeld", round, i, err)
				}
			}
			if winner == nil {
				t.Fatalf("round %d: nobody acquired the lease: %v", round, errs)
			}
			if _, leases := snapshot(t, clusters[0]); leases["orders"].Token != winner.token {
				t.Fatalf("round %d: the cluster's lease %+v is not the winner's", round, leases["orders"])
			}
			// The winner writes, even if a loser fenced its producer.
			r := state.Rename{From: "orders", To: "orders.v2", Strategy: "dual", Revision: int64(round + 1), Phase: state.PhasePlanned}
			if err := winner.Publish(ctx, []state.Rename{r}, nil); err != nil {
				t.Fatalf("round %d: the winner's Publish: %v", round, err)
			}
			if err := winner.Release(ctx); err != nil {
				t.Fatalf("round %d: Release: %v", round, err)
			}
		}
	})
}
