package main

// The cluster state backend (--state-backend cluster): the state lives in
// the cluster being migrated, the state file is this machine's cache of
// it, and every command that changes a rename holds that rename's lease.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/clusterstate"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

const (
	flagStateBackend = "state-backend"
	flagBreakLease   = "break-lease"
	flagLeaseTTL     = "lease-ttl"
	backendFile      = "file"
	backendCluster   = "cluster"
)

// onCluster reports whether --state-backend says cluster.
func onCluster(c *cli.Context) (bool, error) {
	switch b := c.String(flagStateBackend); b {
	case backendFile, "":
		return false, nil
	case backendCluster:
		return true, nil
	default:
		return false, fmt.Errorf("--state-backend %q: want %s or %s", b, backendFile, backendCluster)
	}
}

// holder is this process, as a lease names it: user, host, pid and the
// command's name (never its flags' values: a lease is stored in the
// cluster).
func holder(c *cli.Context) clusterstate.Holder {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	return clusterstate.Holder{User: name, Host: host, Command: strings.TrimSpace(c.App.Name + " " + commandPath(c)), PID: os.Getpid()}
}

// openCluster opens the cluster's state and audit topics (creating them
// when missing).
func openCluster(c *cli.Context) (*clusterstate.Cluster, error) {
	cfg, err := clientConfig(c)
	if err != nil {
		return nil, err
	}
	ttl := c.Duration(flagLeaseTTL)
	if ttl <= 0 {
		return nil, fmt.Errorf("--%s %s: want a positive duration", flagLeaseTTL, ttl)
	}
	return clusterstate.Open(c.Context, clusterstate.Options{Config: cfg, Holder: holder(c), Log: logger(c), LeaseTTL: ttl})
}

// leaseRenames are the renames a command changes: the ones its --rename
// names, or every rename of the map.
func leaseRenames(c *cli.Context, m *plan.RenameMap) []string {
	var names []string
	for _, f := range c.Command.Flags {
		switch f := f.(type) {
		case *cli.StringSliceFlag:
			if f.Name == "rename" {
				names = c.StringSlice("rename")
			}
		case *cli.StringFlag:
			if f.Name == "rename" && c.String("rename") != "" {
				names = []string{c.String("rename")}
			}
		}
	}
	if len(names) > 0 {
		return names
	}
	for _, r := range m.Renames {
		names = append(names, r.From)
	}
	return names
}

// attachCluster takes the leases of the renames the command changes,
// brings the local cache up to the cluster for them (or refuses when the
// cache holds changes the cluster lacks), and makes every write go to the
// cluster first. done releases the leases.
func attachCluster(c *cli.Context, st *state.Store, m *plan.RenameMap) (done func(), err error) {
	cl, err := openCluster(c)
	if err != nil {
		return nil, err
	}
	names := leaseRenames(c, m)
	for _, n := range names {
		if err := lifecycle.CheckRename(m, n); err != nil {
			cl.Close()
			return nil, err
		}
	}
	lease, err := cl.Acquire(c.Context, names, c.Bool(flagBreakLease))
	if err != nil {
		cl.Close()
		return nil, err
	}
	release := func() {
		st.SetReplica(nil)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), 10*time.Second)
		defer cancel()
		if err := lease.Release(ctx); err != nil {
			logger(c).Warn("could not release the lease; it expires by itself", "err", err)
		}
		cl.Close()
	}
	snap, _, err := cl.Snapshot(c.Context)
	if err == nil {
		err = clusterstate.Sync(c.Context, st, snap, names)
	}
	if err != nil {
		release()
		return nil, err
	}
	st.SetReplica(lease)
	if err := recordMarks(c, cl, st, names); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// recordMarks records phase mirroring, under the lease just taken, for
// every rename of names still in phase created that a bridge marked in
// the progress topic (a bridge whose principal may not change the state).
func recordMarks(c *cli.Context, cl *clusterstate.Cluster, st *state.Store, names []string) error {
	marks, err := cl.Marks(c.Context)
	if err != nil {
		return err
	}
	for _, n := range names {
		mk, marked := marks[n]
		if !marked || mk.Phase != state.PhaseMirroring {
			continue
		}
		rec, found, err := st.Rename(c.Context, n)
		if err != nil {
			return err
		}
		if !found || rec.Phase != state.PhaseCreated {
			continue
		}
		detail := fmt.Sprintf("%s → %s: the bridge %s (%s) marked that it copies since %s", rec.From, rec.To, mk.Actor, mk.Command, mk.At.Format(time.RFC3339))
		if _, err := st.Transition(c.Context, n, state.PhaseMirroring, "the bridge copies "+rec.From+" → "+rec.To+" (its mark of "+mk.At.Format(time.RFC3339)+")",
			state.AuditEntry{Command: commandLine(c), Action: "phase mirroring", Detail: detail}); err != nil {
			return fmt.Errorf("record the bridge's mark of %s: %w", n, err)
		}
	}
	return nil
}

// refreshFromCluster replaces the local cache by the cluster's state, for
// a command that only reads it.
func refreshFromCluster(c *cli.Context, st *state.Store) error {
	cl, err := openCluster(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	return clusterstate.Pull(c.Context, cl, st)
}

func stateCommand() *cli.Command {
	return &cli.Command{
		Name:  "state",
		Usage: "move the migration's state between the state file and the cluster (--state-backend cluster)",
		Subcommands: []*cli.Command{{
			Name:      "push",
			Usage:     "copy the state file's renames and audit log into the cluster's state topics",
			UsageText: "migrator -b kafka:9092 --state migrator.db state push",
			Action: func(c *cli.Context) error {
				if !fileExists(c.Path(flagState)) {
					return fmt.Errorf("state push: %s", noState(c.Path(flagState)))
				}
				st, err := openState(c)
				if err != nil {
					return err
				}
				snap, err := st.Export(c.Context)
				if err != nil {
					return err
				}
				cl, err := openCluster(c)
				if err != nil {
					return err
				}
				defer cl.Close()
				if err := cl.Push(c.Context, snap); err != nil {
					return err
				}
				return printOrSay(c, stateMoved{len(snap.Renames), len(snap.Audit), c.Path(flagState)},
					"pushed %d rename(s) and %d audit entries from %s to the cluster\n", len(snap.Renames), len(snap.Audit), c.Path(flagState))
			},
		}, {
			Name:      "pull",
			Usage:     "rebuild the state file from the cluster's state topics (after the operator's machine is lost, or on a new one)",
			UsageText: "migrator -b kafka:9092 --state migrator.db state pull",
			Flags:     []cli.Flag{&cli.BoolFlag{Name: "overwrite", Usage: "replace an existing state file's content"}},
			Action: func(c *cli.Context) error {
				path := c.Path(flagState)
				if fileExists(path) && !c.Bool("overwrite") {
					return fmt.Errorf("state pull: %s exists; move it away or say --overwrite", path)
				}
				st, err := openState(c)
				if err != nil {
					return err
				}
				if err := refreshFromCluster(c, st); err != nil {
					return err
				}
				snap, err := st.Export(c.Context)
				if err != nil {
					return err
				}
				return printOrSay(c, stateMoved{len(snap.Renames), len(snap.Audit), path},
					"pulled %d rename(s) and %d audit entries from the cluster into %s\n", len(snap.Renames), len(snap.Audit), path)
			},
		}},
	}
}

// stateMoved is what state push and pull moved, for -o json.
type stateMoved struct {
	Renames      int    `json:"renames"`
	AuditEntries int    `json:"audit_entries"`
	State        string `json:"state"`
}

// syncRoutesWithCluster makes the bridge's routes read the cluster's
// state (refreshing routes.Store, its cache, before each read) and record
// phase mirroring under the rename's lease. stop closes the connection.
func syncRoutesWithCluster(c *cli.Context, routes *lifecycle.MapRoutes) (stop func(), err error) {
	cl, err := openCluster(c)
	if err != nil {
		return nil, err
	}
	st := routes.Store
	routes.Sync = func(ctx context.Context) error { return clusterstate.Pull(ctx, cl, st) }
	routes.Lock = func(ctx context.Context, rename string) (func(), error) {
		lease, err := cl.Acquire(ctx, []string{rename}, false)
		if errors.Is(err, clusterstate.ErrNotAuthorized) {
			// A principal that may only run the bridge: mark instead, for
			// the next command that takes the lease to record.
			if merr := cl.MarkMirroring(ctx, rename); merr != nil {
				return nil, fmt.Errorf("%w; marking it in %s failed too: %v", err, clusterstate.DefaultProgressTopic, merr)
			}
			return nil, fmt.Errorf("this principal may not change the migration's state: marked in %s that the bridge copies %s; "+
				"the next command that changes the rename records phase mirroring", clusterstate.DefaultProgressTopic, rename)
		}
		if err != nil {
			return nil, err
		}
		st.SetReplica(lease)
		return func() {
			st.SetReplica(nil)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = lease.Release(rctx)
		}, nil
	}
	return cl.Close, nil
}
