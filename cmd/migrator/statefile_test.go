package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/kafkatest"
)

// TestOnlyApplyCreatesTheStateFile: run where there is no state, every
// command but apply says so and leaves no migrator.db or .lock behind.
func TestOnlyApplyCreatesTheStateFile(t *testing.T) {
	c := kafkatest.NewFake(t)
	const src, dst = "nostate.a_old.v1", "nostate.a.new.v1"
	c.CreateTopic(t, src, 1, nil)
	mapFile := writeFile(t, "map.yaml", "version: 1\nrenames:\n  - {from: "+src+", to: "+dst+"}\n")
	dir := t.TempDir()
	t.Chdir(dir)
	const want = "no state at ./migrator.db (use --state or MIGRATOR_STATE)"
	for _, args := range [][]string{
		{"status"},
		{"verify"},
		{"history"},
		{"cutover", "producers", "--yes", "--rename", src},
		{"cutover", "consumers", "--yes", "--rename", src, "--all-groups"},
		{"cutover", "swap", "--rename", src, "--yes"},
		{"retire", "--rename", src, "--yes"},
		{"rollback", "--rename", src, "--yes"},
		{"state", "push"},
		{"apply", "--dry-run"},
		{"plan"},
	} {
		_, stderr, err := run(t, append([]string{"-b", c.Bootstrap, "--map", mapFile}, args...)...)
		if !strings.Contains(stderr+errString(err), want) && args[0] != "apply" && args[0] != "plan" {
			t.Errorf("%v: %v\n%s\nwant %q", args, err, stderr, want)
		}
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Fatalf("%v left %s behind", args, entries[0].Name())
		}
	}
	if _, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "apply", "--yes"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"migrator.db", "migrator.db.lock"} {
		if !fileExists(filepath.Join(dir, f)) {
			t.Errorf("apply did not create %s", f)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestFailFastBeforeConnecting: a bad map, a state file that cannot be
// written, a --command-config naming a missing CA file fail at once,
// naming the file, without trying the (unreachable) cluster.
func TestFailFastBeforeConnecting(t *testing.T) {
	addr := closedAddr(t)
	mapFile := writeFile(t, "map.yaml", "version: 1\nrenames:\n  - {from: ff.a_old.v1, to: ff.a.new.v1}\n")
	noCA := writeFile(t, "client.properties", "security.protocol=SSL\nssl.ca.location=/nonexistent/ca.pem\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--map", "/nonexistent/map.yaml", "status"}, "/nonexistent/map.yaml"},
		{[]string{"--map", "/nonexistent/map.yaml", "plan"}, "/nonexistent/map.yaml"},
		{[]string{"--map", mapFile, "--state", "/nonexistent/dir/s.db", "apply", "--yes"}, "state file /nonexistent/dir/s.db: directory /nonexistent/dir"},
		{[]string{"--map", mapFile, "--command-config", noCA, "ping"}, noCA + " line 2: ssl.ca.location /nonexistent/ca.pem: no such file or directory"},
		{[]string{"--map", mapFile, "--command-config", noCA, "--state", filepath.Join(t.TempDir(), "s.db"), "apply", "--yes"}, "ssl.ca.location /nonexistent/ca.pem"},
	} {
		start := time.Now()
		_, _, err := run(t, append([]string{"-b", addr}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, admin.ErrUnreachable) {
			t.Errorf("%v: %v, want an error naming %q before connecting", c.args, err, c.want)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("%v took %s: it tried the cluster", c.args, took)
		}
	}
}

// TestJavaOnlySettingWarns: a client.properties with ssl.protocol (Java
// only) still connects; the warning names file and line.
func TestJavaOnlySettingWarns(t *testing.T) {
	c := kafkatest.NewFake(t)
	props := writeFile(t, "client.properties", "# from a Java client\nssl.protocol=TLSv1.3\nclient.dns.lookup=use_all_dns_ips\n")
	_, stderr, err := run(t, "-b", c.Bootstrap, "--command-config", props, "ping")
	if err != nil {
		t.Fatalf("ping with ssl.protocol in --command-config: %v\n%s", err, stderr)
	}
	if want := props + " line 2: ssl.protocol is a Java client setting librdkafka does not have; skipped"; !strings.Contains(stderr, want) || strings.Count(stderr, "ssl.protocol") != 1 {
		t.Errorf("stderr lacks the warning %q (once):\n%s", want, stderr)
	}
}
