package main

// Command-line plumbing shared by the commands: the map, the cluster, the
// state file and the operator claim, and confirmations.

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// stateUse says what a command does with the state file.
type stateUse int

const (
	// stateIfExists reads the state file when there is one; a missing
	// file is not created.
	stateIfExists stateUse = iota
	// stateToChange claims the migration (state.ClaimOperator) and opens
	// the state file, creating it when missing.
	stateToChange
	// stateNone does not open the state file.
	stateNone
)

// newEnv loads the map, opens the state file as use says and connects:
// the environment of one lifecycle step. The bridge group is the
// command's --bridge-group, when it has one. Call done when finished.
func newEnv(c *cli.Context, use stateUse) (env *lifecycle.Env, done func(), err error) {
	cluster, err := onCluster(c)
	if err != nil {
		return nil, nil, err
	}
	env = &lifecycle.Env{Command: commandLine(), Log: logger(c), BridgeGroup: c.String(flagBridgeGroup)}
	switch {
	case use == stateToChange:
		if env.Store, err = openStateToChange(c); err != nil {
			return nil, nil, err
		}
	case use == stateIfExists && (cluster || fileExists(c.Path(flagState))):
		if env.Store, err = openState(c); err != nil {
			return nil, nil, err
		}
	}
	if env.Map, env.Admin, err = mapAndConnect(c); err != nil {
		return nil, nil, err
	}
	done = env.Admin.Close
	switch {
	case !cluster || env.Store == nil:
	case use == stateToChange:
		release, err := attachCluster(c, env.Store, env.Map)
		if err != nil {
			env.Admin.Close()
			return nil, nil, err
		}
		done = func() { release(); env.Admin.Close() }
	default:
		if err := refreshFromCluster(c, env.Store); err != nil {
			env.Admin.Close()
			return nil, nil, err
		}
	}
	done = withProgress(c, env, done)
	return env, done, nil
}

// flagBridgeGroup names the bridge's consumer group.
const flagBridgeGroup = "bridge-group"

// bridgeGroupFlag is the --bridge-group flag of a command that reads the
// bridge's progress; usage says what the command does with it.
func bridgeGroupFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: flagBridgeGroup, Value: bridge.DefaultGroup, Usage: usage}
}

// renameFlag is the --rename flag of a command about one rename.
func renameFlag() cli.Flag {
	return &cli.StringFlag{Name: "rename", Required: true, Usage: "the rename, by its old `TOPIC`"}
}

// mapAndConnect loads the rename map and connects to the cluster; close
// the client when done.
func mapAndConnect(c *cli.Context) (*plan.RenameMap, *admin.Client, error) {
	m, err := plan.LoadRenameMap(c.Path(flagMap))
	if err != nil {
		return nil, nil, err
	}
	cl, err := connect(c)
	if err != nil {
		return nil, nil, err
	}
	return m, cl, nil
}

// openState opens the state file named by --state.
func openState(c *cli.Context) (*state.Store, error) {
	return state.Open(c.Path(flagState), state.Options{LockTimeout: c.Duration(flagLockTimeout)})
}

// openStateToChange claims the migration for this command (another
// operator's command waits for it or is refused, see state.Operator) and
// opens the state file. The claim ends with the command.
func openStateToChange(c *cli.Context) (*state.Store, error) {
	op, err := state.ClaimOperator(c.Context, c.Path(flagState), commandLine(), c.Duration(flagLockTimeout))
	if err != nil {
		return nil, err
	}
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
	c.App.Metadata[metaOperator] = op
	return openState(c)
}

const metaOperator = "operator"

// releaseOperator gives up the command's claim, if it took one.
func releaseOperator(c *cli.Context) error {
	if op, ok := c.App.Metadata[metaOperator].(*state.Operator); ok {
		op.Release()
		delete(c.App.Metadata, metaOperator)
	}
	return nil
}

// confirm asks on a terminal; elsewhere it refuses, so that scripts must
// say --yes.
func confirm(c *cli.Context, question string) error {
	if !isatty.IsTerminal(os.Stdin.Fd()) {
		return fmt.Errorf("%s needs --yes when not run from a terminal", c.Command.Name)
	}
	fmt.Fprintf(c.App.ErrWriter, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return fmt.Errorf("%s: not confirmed", c.Command.Name)
	}
	return nil
}

// commandLine is the command as typed, for the audit log.
func commandLine() string { return strings.Join(os.Args, " ") }

// fileExists reports whether path names something that exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
