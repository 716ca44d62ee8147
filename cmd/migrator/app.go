package main

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/clientconfig"
	"github.com/huleedu/topic-migrator/output"
)

// Set at build time with -ldflags "-X main.version=...".
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
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
		Version:              version,
		EnableBashCompletion: true,
		Flags:                globalFlags(true),
		Action:               rootAction,
		Before:               checkOutputFormat,
		After:                releaseOperator,
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
	setUpCommands(app)
	return app
}

func init() {
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version and exit"}
	cli.VersionPrinter = func(c *cli.Context) {
		_, librdkafka := kafka.LibraryVersion()
		fmt.Fprintf(c.App.Writer, "migrator %s (commit %s, built %s, %s, librdkafka %s)\n", version, commit, date, runtime.Version(), librdkafka)
	}
}

// checkOutputFormat checks -o.
func checkOutputFormat(c *cli.Context) error {
	if _, err := output.ParseFormat(c.String(flagOutput)); err != nil {
		return &usageError{msg: err.Error()}
	}
	return nil
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

// say prints a sentence for people: on stdout in the table format, on
// stderr with -o json or yaml, whose stdout holds one document only.
func say(c *cli.Context, format string, args ...any) {
	w := c.App.Writer
	if !printer(c).Human() {
		w = c.App.ErrWriter
	}
	fmt.Fprintf(w, format, args...)
}

// printOrSay prints v as JSON (YAML) with -o json (yaml), else the
// sentence.
func printOrSay(c *cli.Context, v any, format string, args ...any) error {
	if pr := printer(c); !pr.Human() {
		return pr.Print(v, nil, nil)
	}
	_, err := fmt.Fprintf(c.App.Writer, format, args...)
	return err
}

// printerFor makes the printer of a command's results; tests replace it
// to see what a terminal shows.
var printerFor = output.NewPrinter

// clientConfig builds the connection config from the global flags. It
// checks the files --command-config names and warns, once, about the
// Java-only settings it skips.
func clientConfig(c *cli.Context) (clientconfig.Config, error) {
	cfg := clientconfig.Config{BootstrapServers: c.String(flagBootstrap), Timeout: globalDuration(c, flagTimeout)}
	if path := c.Path(flagCommandConfig); path != "" {
		props, err := clientconfig.LoadProperties(path)
		if err != nil {
			return cfg, err
		}
		if err := props.CheckFiles(); err != nil {
			return cfg, err
		}
		if c.App.Metadata == nil {
			c.App.Metadata = map[string]any{}
		}
		if _, warned := c.App.Metadata[metaSkippedWarned]; !warned {
			c.App.Metadata[metaSkippedWarned] = true
			for _, s := range props.Skipped() {
				logger(c).Warn(fmt.Sprintf("%s: %s is a Java client setting librdkafka does not have; skipped", props.Where(s.Key), s.Key))
			}
		}
		cfg.Properties = props
	}
	return cfg, nil
}

const metaSkippedWarned = "skipped-settings-warned"

// connect opens an admin connection from the global flags.
func connect(c *cli.Context) (*admin.Client, error) {
	cfg, err := clientConfig(c)
	if err != nil {
		return nil, err
	}
	if cfg.Bootstrap() == "" {
		return nil, &usageError{msg: clientconfig.ErrNoBootstrap.Error(), err: clientconfig.ErrNoBootstrap}
	}
	return admin.Connect(c.Context, cfg, logger(c))
}
