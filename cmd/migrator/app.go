package main

import (
	"errors"
	"io"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/clientconfig"
	"github.com/huleedu/topic-migrator/output"
	"github.com/huleedu/topic-migrator/state"
)

// Set at build time with -ldflags "-X main.version=...".
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

// exitError carries a process exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

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

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:  "migrator",
		Usage: "rename Kafka topics on a live cluster, safely and reversibly",
		Description: "migrator reads rename-map.yaml (old topic name → new name), plans the migration against the live\n" +
			"cluster, creates the new topics, mirrors old → new exactly once for the transition window, moves\n" +
			"consumer groups with exact offset translation, and retires the old topics when it is safe.\n\n" +
			"Example:\n  migrator --bootstrap-servers kafka:9092 --map rename-map.yaml ping",
		Writer:    stdout,
		ErrWriter: stderr,
		// Errors are printed once, by main.
		ExitErrHandler:       func(*cli.Context, error) {},
		HideVersion:          true,
		EnableBashCompletion: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagBootstrap, Aliases: []string{"b"}, EnvVars: []string{"MIGRATOR_BOOTSTRAP_SERVERS"}, Usage: "Kafka bootstrap servers, `HOST:PORT[,...]`"},
			&cli.PathFlag{Name: flagCommandConfig, Usage: "Java-style properties `FILE` of client settings (security.protocol, sasl.*, ssl.*), passed to librdkafka"},
			&cli.PathFlag{Name: flagState, EnvVars: []string{"MIGRATOR_STATE"}, Value: "migrator.db", Usage: "bbolt state `FILE`"},
			&cli.PathFlag{Name: flagMap, Value: "rename-map.yaml", Usage: "rename map `FILE`"},
			&cli.StringFlag{Name: flagOutput, Aliases: []string{"o"}, Value: "table", Usage: "output format: table (fitted to the terminal: COLUMNS or its width), wide (every column) or json"},
			&cli.BoolFlag{Name: flagVerbose, Aliases: []string{"v"}, Usage: "log debug details (librdkafka included) to stderr"},
			&cli.DurationFlag{Name: flagTimeout, Value: clientconfig.DefaultTimeout, Usage: "give up on an unresponsive cluster after this long"},
			&cli.DurationFlag{Name: flagLockTimeout, Value: state.DefaultLockTimeout, Usage: "wait this long for a state file another migrator process is writing"},
			&cli.StringFlag{Name: flagStateBackend, EnvVars: []string{"MIGRATOR_STATE_BACKEND"}, Value: backendFile, Usage: "where the migration's state lives: file (the --state file) or cluster (topics migrator.state and migrator.audit in the cluster, the --state file its cache; runbooks/state-in-cluster.md)"},
			&cli.BoolFlag{Name: flagBreakLease, Usage: "with --state-backend cluster: take the leases of the renames the command changes even while another holder has them (recorded in the audit log)"},
		},
		Before: func(c *cli.Context) error {
			if _, err := output.ParseFormat(c.String(flagOutput)); err != nil {
				return err
			}
			return nil
		},
		After: releaseOperator,
		Commands: []*cli.Command{
			versionCommand(),
			demoCommand(),
			pingCommand(),
			validateMapCommand(),
			planCommand(),
			lintCommand(),
			catalogCommand(),
			applyCommand(),
			mirrorCommand(),
			verifyCommand(),
			statusCommand(),
			cutoverCommand(),
			drainCommand(),
			retireCommand(),
			rollbackCommand(),
			historyCommand(),
			stateCommand(),
			completionCommand(),
		},
	}
}

// logger returns the process logger: info level, debug with --verbose.
func logger(c *cli.Context) *slog.Logger {
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: logLevel(c)}))
}

// logLevel is info, or debug with --verbose.
func logLevel(c *cli.Context) slog.Level {
	if c.Bool(flagVerbose) {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// printer prints the command's results on stdout in the -o format.
func printer(c *cli.Context) output.Printer {
	f, _ := output.ParseFormat(c.String(flagOutput))
	return printerFor(f, c.App.Writer)
}

// printerFor makes the printer of a command's results; tests replace it
// to see what a terminal shows.
var printerFor = output.NewPrinter

// clientConfig builds the connection config from the global flags.
func clientConfig(c *cli.Context) (clientconfig.Config, error) {
	cfg := clientconfig.Config{BootstrapServers: c.String(flagBootstrap), Timeout: c.Duration(flagTimeout)}
	if path := c.Path(flagCommandConfig); path != "" {
		props, err := clientconfig.LoadProperties(path)
		if err != nil {
			return cfg, err
		}
		cfg.Properties = props
	}
	return cfg, nil
}

// connect opens an admin connection from the global flags.
func connect(c *cli.Context) (*admin.Client, error) {
	cfg, err := clientConfig(c)
	if err != nil {
		return nil, err
	}
	return admin.Connect(c.Context, cfg, logger(c))
}
