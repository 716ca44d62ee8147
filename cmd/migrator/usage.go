package main

// The command line around the commands: global flags accepted before or
// after the command, usage errors (unknown commands and flags, missing
// required flags) on stderr with a suggestion, never help on stdout.

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/clientconfig"
	"github.com/huleedu/topic-migrator/clusterstate"
	"github.com/huleedu/topic-migrator/state"
)

// Global flag names.
const (
	flagBootstrap     = "bootstrap-servers"
	flagCommandConfig = "command-config"
	flagState         = "state"
	flagMap           = "map"
	flagOutput        = "output"
	flagVerbose       = "verbose"
	flagTimeout       = "timeout"
	flagLockTimeout   = "lock-timeout"
)

// globalCategory heads the global flags in a command's help.
const globalCategory = "GLOBAL (also accepted before the command)"

// globalFlags returns new global flags (a flag keeps what it parsed, so
// every command needs its own). withEnv says whether they read their
// environment variables: the app's do; a command's copies do not, so
// that a copy counts as set only when given after the command, and the
// app's value (command line before the command, environment, default)
// is inherited otherwise (inheritGlobals).
func globalFlags(withEnv bool) []cli.Flag {
	env := func(name string) []string {
		if !withEnv {
			return nil
		}
		return []string{name}
	}
	category := ""
	if !withEnv {
		category = globalCategory
	}
	// usage adds the variable to a copy's usage; the app's help shows it
	// by itself.
	usage := func(text, name string) string {
		if withEnv {
			return text
		}
		return text + " (env " + name + ")"
	}
	return []cli.Flag{
		&cli.StringFlag{Name: flagBootstrap, Aliases: []string{"b", "bootstrap-server"}, EnvVars: env("MIGRATOR_BOOTSTRAP_SERVERS"), Category: category, Usage: usage("Kafka bootstrap servers, HOST:PORT[,...]", "MIGRATOR_BOOTSTRAP_SERVERS")},
		&cli.PathFlag{Name: flagCommandConfig, EnvVars: env("MIGRATOR_COMMAND_CONFIG"), Category: category, Usage: usage("Java-style properties `FILE` of client settings (security.protocol, sasl.*, ssl.*), passed to librdkafka", "MIGRATOR_COMMAND_CONFIG")},
		&cli.PathFlag{Name: flagState, EnvVars: env("MIGRATOR_STATE"), Value: "migrator.db", Category: category, Usage: usage("bbolt state `FILE`", "MIGRATOR_STATE")},
		&cli.PathFlag{Name: flagMap, EnvVars: env("MIGRATOR_MAP"), Value: "rename-map.yaml", Category: category, Usage: usage("rename map `FILE`", "MIGRATOR_MAP")},
		&cli.StringFlag{Name: flagOutput, Aliases: []string{"o"}, EnvVars: env("MIGRATOR_OUTPUT"), Value: "table", Category: category, Usage: usage("output format: table (fitted to the terminal: COLUMNS or its width), wide (every column), json or yaml", "MIGRATOR_OUTPUT")},
		&cli.BoolFlag{Name: flagVerbose, Aliases: []string{"v"}, EnvVars: env("MIGRATOR_VERBOSE"), Category: category, Usage: usage("log debug details (librdkafka included) to stderr", "MIGRATOR_VERBOSE")},
		&cli.DurationFlag{Name: flagTimeout, EnvVars: env("MIGRATOR_TIMEOUT"), Value: clientconfig.DefaultTimeout, Category: category, Usage: usage("give up on an unresponsive cluster after this long", "MIGRATOR_TIMEOUT")},
		&cli.DurationFlag{Name: flagLockTimeout, EnvVars: env("MIGRATOR_LOCK_TIMEOUT"), Value: state.DefaultLockTimeout, Category: category, Usage: usage("wait this long for a state file another migrator process is writing", "MIGRATOR_LOCK_TIMEOUT")},
		&cli.StringFlag{Name: flagStateBackend, EnvVars: env("MIGRATOR_STATE_BACKEND"), Value: backendFile, Category: category, Usage: usage("where the migration's state lives: file (the --state file) or cluster (topics migrator.state and migrator.audit in the cluster, the --state file its cache; runbooks/state-in-cluster.md)", "MIGRATOR_STATE_BACKEND")},
		&cli.DurationFlag{Name: flagLeaseTTL, EnvVars: env("MIGRATOR_LEASE_TTL"), Value: clusterstate.DefaultLeaseTTL, Category: category, Usage: usage("with --state-backend cluster: a lease not renewed (its holder crashed or stopped) expires after this long; renewed every third of it", "MIGRATOR_LEASE_TTL")},
		// No environment variable: a standing setting that breaks leases
		// would defeat them.
		&cli.BoolFlag{Name: flagBreakLease, Category: category, Usage: "with --state-backend cluster: take the leases of the renames the command changes even while another holder has them (recorded in the audit log)"},
	}
}

// setUpCommands gives every command (and subcommand) the global flags,
// except those whose names it uses for flags of its own (drain's
// --timeout), makes its usage errors (unknown flag, unknown subcommand,
// missing required flag) plain errors for main to print on stderr, and
// inherits the global flags' values given before the command.
func setUpCommands(app *cli.App) {
	app.OnUsageError = onUsageError
	var walk func(parent string, cmds []*cli.Command)
	walk = func(parent string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			path := strings.TrimSpace(parent + " " + cmd.Name)
			required := takeRequired(cmd.Flags)
			var copies []string
			for _, f := range globalFlags(false) {
				if !definesAny(cmd.Flags, f.Names()) {
					cmd.Flags = append(cmd.Flags, f)
					copies = append(copies, f.Names()[0])
				}
			}
			cmd.OnUsageError = onUsageError
			before := cmd.Before
			cmd.Before = func(c *cli.Context) error {
				if err := inheritGlobals(c, copies); err != nil {
					return err
				}
				for _, f := range required {
					if !c.IsSet(f.Names()[0]) {
						return &usageError{msg: fmt.Sprintf("%s: --%s is required", path, f.Names()[0])}
					}
				}
				if before != nil {
					return before(c)
				}
				return nil
			}
			if len(cmd.Subcommands) > 0 {
				if cmd.Action == nil {
					cmd.Action = unknownSubcommand(path, cmd)
				}
				walk(path, cmd.Subcommands)
			}
		}
	}
	walk("", app.Commands)
}

// takeRequired returns the required flags of a command and makes them
// optional for urfave/cli, which would print the command's help on
// stdout when one is missing; the command's Before checks them instead.
func takeRequired(flags []cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, f := range flags {
		switch f := f.(type) {
		case *cli.StringFlag:
			if f.Required {
				f.Required = false
				out = append(out, f)
			}
		case *cli.StringSliceFlag:
			if f.Required {
				f.Required = false
				out = append(out, f)
			}
		case *cli.PathFlag:
			if f.Required {
				f.Required = false
				out = append(out, f)
			}
		}
	}
	return out
}

// definesAny reports whether flags has a flag with one of names.
func definesAny(flags []cli.Flag, names []string) bool {
	for _, f := range flags {
		for _, n := range f.Names() {
			if slices.Contains(names, n) {
				return true
			}
		}
	}
	return false
}

// inheritGlobals gives a command's copies of the global flags (named by
// copies) the value given before the command (or by the environment),
// unless the flag was given after the command, which wins. It then
// checks -o.
func inheritGlobals(c *cli.Context, copies []string) error {
	for _, name := range copies {
		if c.IsSet(name) {
			continue
		}
		for _, up := range c.Lineage()[1:] {
			if up.IsSet(name) {
				if err := c.Set(name, fmt.Sprint(up.Value(name))); err != nil {
					return fmt.Errorf("--%s: %w", name, err)
				}
				break
			}
		}
	}
	return checkOutputFormat(c)
}

// globalDuration is the global duration flag name, also in a command
// that has a flag of that name of its own (drain's --timeout is how long
// to wait; the global one bounds each call to the cluster).
func globalDuration(c *cli.Context, name string) time.Duration {
	for _, f := range c.Command.Flags {
		if d, ok := f.(*cli.DurationFlag); ok && d.Name == name && d.Category != globalCategory {
			if parent := c.Lineage(); len(parent) > 1 {
				return parent[1].Duration(name) // looked up from there upwards
			}
		}
	}
	return c.Duration(name)
}

// unknownSubcommand is the action of a command that only groups
// subcommands: a usage error, naming the close one for a typo.
func unknownSubcommand(path string, cmd *cli.Command) cli.ActionFunc {
	return func(c *cli.Context) error {
		var names []string
		for _, s := range cmd.Subcommands {
			if !s.Hidden && s.Name != "help" {
				names = append(names, s.Name)
			}
		}
		if !c.Args().Present() {
			return &usageError{msg: fmt.Sprintf("%s: name a subcommand: %s (migrator %s --help)", path, strings.Join(names, ", "), path)}
		}
		return &usageError{msg: fmt.Sprintf("%s: unknown command %q%s (commands: %s)", path, c.Args().First(), suggest(c.Args().First(), names), strings.Join(names, ", "))}
	}
}

// rootAction runs for `migrator` with no command (help, on stdout) and
// for an unknown command (a usage error).
func rootAction(c *cli.Context) error {
	if !c.Args().Present() {
		return cli.ShowAppHelp(c)
	}
	var names []string
	for _, cmd := range c.App.Commands {
		if !cmd.Hidden && cmd.Name != "help" {
			names = append(names, cmd.Name)
		}
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q%s (migrator --help lists the commands)", c.Args().First(), suggest(c.Args().First(), names))}
}

var undefinedFlagRE = regexp.MustCompile(`flag provided but not defined: -+(\S+)`)

// onUsageError turns a flag parsing error into a usage error that names
// the close flag for a typo.
func onUsageError(c *cli.Context, err error, _ bool) error {
	where, help := "", "migrator --help"
	if p := commandPath(c); p != "" {
		where, help = p+": ", "migrator "+p+" --help"
	}
	msg := where + err.Error()
	if m := undefinedFlagRE.FindStringSubmatch(err.Error()); m != nil {
		flags := c.App.Flags
		if where != "" {
			flags = c.Command.Flags
		}
		var names []string
		for _, f := range flags {
			for _, n := range f.Names() {
				names = append(names, dashed(n))
			}
		}
		msg = fmt.Sprintf("%sunknown flag %s%s (%s lists the flags)", where, dashed(m[1]), suggest(dashed(m[1]), names), help)
		if owners := flagOwners(c.App.Commands, m[1]); where == "" && len(owners) > 0 {
			msg = fmt.Sprintf("unknown flag %s before the command: it is a flag of %s; put it after the command", dashed(m[1]), strings.Join(owners, ", "))
		}
	}
	return &usageError{msg: msg}
}

// flagOwners names the commands (and subcommands) that have flag name.
func flagOwners(cmds []*cli.Command, name string) []string {
	var out []string
	for _, cmd := range cmds {
		if definesAny(cmd.Flags, []string{name}) {
			out = append(out, cmd.Name)
		}
		for _, sub := range flagOwners(cmd.Subcommands, name) {
			out = append(out, cmd.Name+" "+sub)
		}
	}
	return out
}

// suggest returns "; did you mean X?" for the candidate closest to word,
// or "" when none is close.
func suggest(word string, candidates []string) string {
	best, bestD := "", len(word)/3+1
	if bestD > 3 {
		bestD = 3
	}
	for _, c := range candidates {
		if d := distance(word, c); d <= bestD && (best == "" || d < distance(word, best)) {
			best = c
		}
	}
	if best == "" {
		for _, c := range candidates {
			if len(word) >= 3 && strings.HasPrefix(c, word) {
				best = c
				break
			}
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean " + best + "?"
}

// distance is the optimal string alignment distance between a and b: the
// edits (insert, delete, replace, swap of neighbours) from one to the
// other.
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// commandPath is the command as typed, without flags: "cutover swap".
func commandPath(c *cli.Context) string {
	var names []string
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.Command.Name != "" && ctx.Command.Name != c.App.Name {
			names = append([]string{ctx.Command.Name}, names...)
		}
	}
	return strings.Join(names, " ")
}

// dashed is a flag name as typed: -o, --output.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}
