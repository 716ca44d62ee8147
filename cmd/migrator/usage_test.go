package main

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/kafkatest"
)

// TestGlobalFlagsAfterTheCommand: global flags work before or after the
// command (and a subcommand); after wins; --bootstrap-server is an alias.
func TestGlobalFlagsAfterTheCommand(t *testing.T) {
	c := kafkatest.NewFake(t)
	c.CreateTopic(t, "anywhere.a.v1", 1, nil)
	mapFile := writeFile(t, "map.yaml", "version: 1\nrenames:\n  - {from: anywhere.a.v1, to: anywhere.b.v1}\n")
	for _, args := range [][]string{
		{"status", "-o", "json", "--bootstrap-server", c.Bootstrap, "--map", mapFile},
		{"-b", c.Bootstrap, "status", "--map", mapFile, "-o", "json"},
		{"-o", "table", "--map", "nothing.yaml", "status", "-b", c.Bootstrap, "--map", mapFile, "-o", "json"},
		{"--bootstrap-server=" + c.Bootstrap, "-o", "json", "--map", mapFile, "status"},
	} {
		out, stderr, err := run(t, append(args, "--state", t.TempDir()+"/none.db")...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
		var rows []map[string]any
		if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0]["from"] != "anywhere.a.v1" {
			t.Errorf("%v: stdout is not the status as JSON (%v):\n%s", args, err, out)
		}
	}
	// A subcommand takes them too.
	_, _, err := run(t, "cutover", "producers", "--yes", "--rename", "anywhere.a.v1", "-b", c.Bootstrap, "--map", mapFile, "--state", t.TempDir()+"/none.db", "--dry-run")
	if err != nil && strings.Contains(err.Error(), "flag provided but not defined") {
		t.Errorf("cutover producers with global flags after it: %v", err)
	}
}

// TestEnvironmentVariables: every global flag has one; a flag wins over it.
func TestEnvironmentVariables(t *testing.T) {
	mapFile := writeFile(t, "map.yaml", "version: 1\nrenames:\n  - {from: env.a.v1, to: env.b.v1}\n")
	t.Setenv("MIGRATOR_MAP", mapFile)
	t.Setenv("MIGRATOR_OUTPUT", "json")
	out, _, err := run(t, "validate-map")
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid([]byte(out)) || !strings.Contains(out, "env.b.v1") {
		t.Errorf("MIGRATOR_MAP and MIGRATOR_OUTPUT not used:\n%s", out)
	}
	if out, _, _ := run(t, "validate-map", "-o", "table"); json.Valid([]byte(out)) {
		t.Errorf("-o table after the command did not win over MIGRATOR_OUTPUT:\n%s", out)
	}
	for _, f := range globalFlags(true) {
		if f.Names()[0] == flagBreakLease {
			continue // deliberately none: a standing setting would defeat leases
		}
		if ev, ok := f.(interface{ GetEnvVars() []string }); !ok || len(ev.GetEnvVars()) == 0 {
			t.Errorf("global flag --%s has no environment variable", f.Names()[0])
		}
	}
}

// TestUsageErrors: unknown commands, flags and subcommands, missing
// required flags and a bad -o exit 64 with one line on stderr (via main)
// and nothing on stdout; typos get a suggestion.
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"plna"}, `unknown command "plna"; did you mean plan?`},
		{[]string{"statsu"}, `did you mean status?`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" (migrator --help lists the commands)`},
		{[]string{"status", "--bootsrap-servers", "x"}, `status: unknown flag --bootsrap-servers; did you mean --bootstrap-servers?`},
		{[]string{"--mpa", "x", "status"}, `unknown flag --mpa; did you mean --map?`},
		{[]string{"--quiet-for", "1s", "cutover", "swap"}, `unknown flag --quiet-for before the command: it is a flag of plan, cutover swap; put it after the command`},
		{[]string{"cutover", "swpa"}, `cutover: unknown command "swpa"; did you mean swap?`},
		{[]string{"cutover"}, `cutover: name a subcommand`},
		{[]string{"retire", "--yes"}, `retire: --rename is required`},
		{[]string{"cutover", "swap", "--yes"}, `cutover swap: --rename is required`},
		{[]string{"status", "-o", "xml"}, `output format "xml" is not table, wide, json or yaml`},
		{[]string{"help", "plna"}, `No help topic for 'plna'`},
	} {
		out, _, err := run(t, c.args...)
		if exitCode(err) != exitUsage || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v (exit %d), want exit %d and %q", c.args, err, exitCode(err), exitUsage, c.want)
		}
		if out != "" {
			t.Errorf("%v: a usage error printed on stdout:\n%s", c.args, out)
		}
	}
}

// TestVersionFlag: --version prints the version line, like version.
func TestVersionFlag(t *testing.T) {
	out, _, err := run(t, "--version")
	if err != nil || !strings.HasPrefix(out, "migrator "+version+" (commit ") || !strings.Contains(out, "librdkafka 2.") {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	if out, _, err := run(t); err != nil || !strings.Contains(out, "USAGE") {
		t.Errorf("migrator with no command: %v, want help on stdout:\n%s", err, out)
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"plan", "apply", "status", "verify", "validate-map"}
	for word, want := range map[string]string{"plna": "plan", "aply": "apply", "verfy": "verify", "validate": "validate-map", "xyz": "", "st": ""} {
		got := suggest(word, names)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
}

// TestOwnFlagNotOverwrittenByGlobal: drain's own --timeout (how long to
// wait) is not the global --timeout given before the command.
func TestOwnFlagNotOverwrittenByGlobal(t *testing.T) {
	var got, global time.Duration
	app := newApp(io.Discard, io.Discard)
	for _, cmd := range app.Commands {
		if cmd.Name == "drain" {
			cmd.Action = func(c *cli.Context) error {
				got, global = c.Duration("timeout"), globalDuration(c, flagTimeout)
				return nil
			}
		}
	}
	if err := app.Run([]string{"migrator", "--timeout", "7s", "drain", "--rename", "x"}); err != nil {
		t.Fatal(err)
	}
	if got != 10*time.Minute || global != 7*time.Second {
		t.Errorf("drain --timeout = %s and the global timeout %s, want its own default 10m and the global 7s", got, global)
	}
}
