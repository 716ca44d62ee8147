package main

// Command-line plumbing shared by the commands: the map, the cluster, the
// state file and the operator claim, and confirmations.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

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
	// the state file, which must exist (on the file backend).
	stateToChange
	// stateToCreate is stateToChange creating a missing state file: for
	// apply, which starts a migration.
	stateToCreate
	// stateNone does not open the state file.
	stateNone
)

// newEnv loads the map, opens the state file as use says and connects:
// the environment of one lifecycle step. Everything that can be checked
// without the cluster (the map, --command-config and the files it names,
// the state file) is checked before connecting. The bridge group is the
// command's --bridge-group, when it has one. Call done when finished.
func newEnv(c *cli.Context, use stateUse) (env *lifecycle.Env, done func(), err error) {
	cluster, err := onCluster(c)
	if err != nil {
		return nil, nil, err
	}
	env = &lifecycle.Env{Command: commandLine(c), Log: logger(c), BridgeGroup: c.String(flagBridgeGroup)}
	if env.Map, err = plan.LoadRenameMap(c.Path(flagMap)); err != nil {
		return nil, nil, err
	}
	if _, err := clientConfig(c); err != nil {
		return nil, nil, err
	}
	path := c.Path(flagState)
	switch {
	case use == stateNone:
	case cluster:
		// The state file is the cluster's cache: missing, it is filled.
		if use != stateIfExists {
			if err := checkWritable(path); err != nil {
				return nil, nil, err
			}
		}
	case use == stateIfExists && !fileExists(path):
		fmt.Fprintf(c.App.ErrWriter, "migrator: %s: showing the map and the cluster only\n", noState(path))
	case use == stateToChange && !fileExists(path):
		return nil, nil, fmt.Errorf("%s: %s", commandPath(c), noState(path))
	case use != stateIfExists:
		if err := checkWritable(path); err != nil {
			return nil, nil, err
		}
	}
	switch {
	case use == stateToChange || use == stateToCreate:
		if env.Store, err = openStateToChange(c); err != nil {
			return nil, nil, err
		}
	case use == stateIfExists && (cluster || fileExists(path)):
		if env.Store, err = openState(c); err != nil {
			return nil, nil, err
		}
	}
	if env.Admin, err = connect(c); err != nil {
		return nil, nil, err
	}
	done = env.Admin.Close
	switch {
	case !cluster || env.Store == nil:
	case use == stateToChange || use == stateToCreate:
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

// noState says there is no state file at path, and how to name another.
func noState(path string) string {
	if !filepath.IsAbs(path) && !strings.HasPrefix(path, "."+string(filepath.Separator)) && !strings.HasPrefix(path, ".."+string(filepath.Separator)) {
		path = "." + string(filepath.Separator) + path
	}
	return fmt.Sprintf("no state at %s (use --state or MIGRATOR_STATE)", path)
}

// checkWritable checks that the state file at path can be written (or
// created), before the command connects.
func checkWritable(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("state file %s: directory %s: %w", path, dir, err)
	case !fi.IsDir():
		return fmt.Errorf("state file %s: %s is not a directory", path, dir)
	}
	const writable = 2 // W_OK
	if err := syscall.Access(dir, writable); err != nil && !fileExists(path) {
		return fmt.Errorf("state file %s: cannot create it in %s: %w", path, dir, err)
	}
	if fileExists(path) {
		if err := syscall.Access(path, writable); err != nil {
			return fmt.Errorf("state file %s: cannot write it: %w", path, err)
		}
	}
	return nil
}

// openState opens the state file named by --state.
func openState(c *cli.Context) (*state.Store, error) {
	afterWrite, err := killAfterWrite()
	if err != nil {
		return nil, err
	}
	return state.Open(c.Path(flagState), state.Options{LockTimeout: c.Duration(flagLockTimeout), AfterWrite: afterWrite})
}

// openStateToChange claims the migration for this command (another
// operator's command waits for it or is refused, see state.Operator) and
// opens the state file. The claim ends with the command.
func openStateToChange(c *cli.Context) (*state.Store, error) {
	op, err := state.ClaimOperator(c.Context, c.Path(flagState), commandLine(c), c.Duration(flagLockTimeout))
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

// yesFlag is the --yes flag of a command that changes something.
func yesFlag() cli.Flag {
	return &cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not show what will change and ask; needed when not run from a terminal"}
}

// terminalInput is where confirmations are read, and whether it is a
// terminal (tests replace it).
var terminalInput = func() (io.Reader, bool) { return os.Stdin, isatty.IsTerminal(os.Stdin.Fd()) }

// mustAsk reports whether the command has to show what it will change and
// ask (neither --yes nor --dry-run). Off a terminal it cannot ask: that is
// a usage error, found before anything is done.
func mustAsk(c *cli.Context) (bool, error) {
	if c.Bool("yes") || c.Bool("dry-run") {
		return false, nil
	}
	if _, tty := terminalInput(); !tty {
		return false, &usageError{msg: fmt.Sprintf("%s changes the cluster or the state: it needs --yes (-y) when not run from a terminal", commandPath(c))}
	}
	return true, nil
}

// confirm asks question on a terminal; elsewhere it refuses, so that
// scripts must say --yes. What will change was shown before.
func confirm(c *cli.Context, question string) error {
	in, tty := terminalInput()
	if !tty {
		return &usageError{msg: fmt.Sprintf("%s needs --yes (-y) when not run from a terminal", commandPath(c))}
	}
	fmt.Fprintf(c.App.ErrWriter, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(in).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return fmt.Errorf("%s: not confirmed; nothing changed", commandPath(c))
	}
	return nil
}

// commandLine is the command as typed after the global flags, e.g.
// "migrator cutover consumers --rename R --all-groups", for the audit log
// and the operator lock: the command a step belongs to, also when the demo
// runs it in process (os.Args would name the demo), without the global
// flags (the cluster, the map, the state file, --command-config's path).
func commandLine(c *cli.Context) string {
	lineage := c.Lineage()
	for i := len(lineage) - 1; i >= 0; i-- {
		if lineage[i].Command != nil {
			return strings.Join(append([]string{c.App.Name}, lineage[i].Args().Slice()...), " ")
		}
	}
	return strings.Join(os.Args, " ")
}

// fileExists reports whether path names something that exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
