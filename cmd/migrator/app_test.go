package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/kafkatest"
)

// run runs the CLI in process and returns stdout, stderr and the error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := newApp(&out, &errOut).RunContext(context.Background(), append([]string{"migrator"}, args...))
	return out.String(), errOut.String(), err
}

func TestEveryCommandHelpHasAnExample(t *testing.T) {
	var walk func(prefix []string, cmds []*cli.Command)
	walk = func(prefix []string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			path := append(append([]string(nil), prefix...), cmd.Name)
			if len(cmd.Subcommands) > 0 {
				walk(path, cmd.Subcommands)
				continue
			}
			out, _, err := run(t, append(path, "--help")...)
			if err != nil {
				t.Errorf("%v --help: %v", path, err)
			}
			if !strings.Contains(out, "migrator ") || !strings.Contains(out, "USAGE") {
				t.Errorf("%v --help shows no example usage:\n%s", path, out)
			}
		}
	}
	walk(nil, newApp(nil, nil).Commands)
}

func TestVersionJSON(t *testing.T) {
	out, _, err := run(t, "-o", "json", "version")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if v["version"] == "" || !strings.HasPrefix(v["librdkafka"], "2.") {
		t.Errorf("version info = %v", v)
	}
}

func TestBadOutputFormat(t *testing.T) {
	_, _, err := run(t, "-o", "xml", "version")
	if err == nil || !strings.Contains(err.Error(), `output format "xml" is not table, wide, json or yaml`) {
		t.Fatalf("err = %v", err)
	}
}

func TestValidateMap(t *testing.T) {
	out, _, err := run(t, "--map", "../../rename-map.yaml", "validate-map")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "huleedu.email.delivery.failed.v1") {
		t.Errorf("validate-map output lacks a rename:\n%s", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nrenames:\n  - from: a\n    too: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = run(t, "--map", bad, "validate-map")
	if err == nil || !strings.Contains(err.Error(), bad+`:4:5: renames[0]: unknown field "too"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestCommandConfigMissingFile(t *testing.T) {
	_, _, err := run(t, "-b", "127.0.0.1:1", "--command-config", "/nonexistent/client.properties", "ping")
	if err == nil || !strings.Contains(err.Error(), "read command config") || !strings.Contains(err.Error(), "/nonexistent/client.properties") {
		t.Fatalf("err = %v", err)
	}
}

func TestPing(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		out, _, err := run(t, "-b", c.Bootstrap, "-o", "json", "ping")
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			ClusterID string `json:"cluster_id"`
			Brokers   []struct {
				Host string `json:"host"`
			} `json:"brokers"`
		}
		if err := json.Unmarshal([]byte(out), &info); err != nil || info.ClusterID == "" || len(info.Brokers) == 0 {
			t.Fatalf("ping output %q: %v", out, err)
		}
	})
}

// writeFile writes a file in the test's temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustCLI returns a runner of the CLI against c with a map and a state
// file that fails the test when a command fails.
func mustCLI(t *testing.T, c *kafkatest.Cluster, mapFile, stateFile string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		out, _, err := run(t, append([]string{"-b", c.Bootstrap, "--map", mapFile, "--state", stateFile}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return out
	}
}

// appliedRename creates src with partitions partitions, writes a map that
// renames it to dst, applies it, and returns the map and state files.
func appliedRename(t *testing.T, c *kafkatest.Cluster, src, dst string, partitions int) (mapFile, stateFile string) {
	t.Helper()
	c.CreateTopic(t, src, partitions, nil)
	mapFile = writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
	stateFile = filepath.Join(t.TempDir(), "s.db")
	mustCLI(t, c, mapFile, stateFile)("apply", "--yes")
	return mapFile, stateFile
}
