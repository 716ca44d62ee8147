package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/huleedu/topic-migrator/kafkatest"
)

// oneJSONDocument fails the test unless out is exactly one JSON document
// (and white space).
func oneJSONDocument(t *testing.T, what, out string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Errorf("%s -o json: stdout is not JSON (%v):\n%s", what, err, out)
		return
	}
	rest, _ := io.ReadAll(dec.Buffered())
	if tail := strings.TrimSpace(string(rest)); tail != "" || dec.More() {
		t.Errorf("%s -o json: stdout holds more than one JSON document; after it:\n%s", what, tail)
	}
}

// TestEveryCommandJSON walks a dual rename and a swap through every
// command with -o json: each prints exactly one JSON document on stdout
// (progress, logs and sentences go to stderr). mirror prints none (it is
// the bridge: logs only), demo and completion have no JSON form.
func TestEveryCommandJSON(t *testing.T) {
	c := kafkatest.NewFake(t)
	const src, dst = "json.orders_old.v1", "json.orders.new.v1"
	const swapSrc, swapDst = "json.email.delivery_failed.v1", "json.email.delivery.failed.v1"
	c.CreateTopic(t, src, 2, nil)
	c.CreateTopic(t, swapSrc, 1, nil)
	mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n  - {from: %s, to: %s, strategy: swap}\n", src, dst, swapSrc, swapDst))
	stateFile := filepath.Join(t.TempDir(), "s.db")
	produceNumbered(t, c, src, 2, 0, 20)
	produceNumbered(t, c, swapSrc, 1, 0, 5)
	commitOffsets(t, c, "json-app", src, map[int32]int64{0: 10, 1: 5})
	run := func(mayFail bool, args ...string) {
		t.Helper()
		var out, errOut bytes.Buffer
		full := append([]string{"migrator", "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile}, args...)
		full = append(full, "-o", "json")
		err := newApp(&out, &errOut).Run(full)
		if err != nil && !mayFail {
			t.Fatalf("%v: %v\n%s", args, err, errOut.String())
		}
		if err != nil && out.Len() == 0 {
			return // a failure may print nothing; its error goes to stderr
		}
		oneJSONDocument(t, strings.Join(args, " "), out.String())
	}
	run(false, "version")
	run(false, "ping")
	run(false, "validate-map")
	run(false, "lint")
	run(false, "catalog")
	run(false, "plan")
	run(false, "apply", "--yes")
	run(false, "status")
	var out, errOut bytes.Buffer
	if err := newApp(&out, &errOut).Run([]string{"migrator", "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "mirror", "--until-caught-up", "-o", "json"}); err != nil {
		t.Fatalf("mirror: %v\n%s", err, errOut.String())
	}
	if out.Len() != 0 {
		t.Errorf("mirror -o json printed on stdout:\n%s", out.String())
	}
	run(false, "drain", "--rename", src, "--timeout", "30s")
	run(false, "verify", "--rename", src)
	run(false, "cutover", "consumers", "--yes", "--rename", src, "--all-groups", "--dry-run")
	run(false, "cutover", "consumers", "--yes", "--rename", src, "--all-groups")
	run(false, "cutover", "producers", "--yes", "--rename", src)
	run(false, "history")
	run(false, "retire", "--rename", src, "--dry-run", "--force", "--reason", "a test")
	run(false, "rollback", "--rename", src, "--dry-run")
	run(false, "cutover", "swap", "--rename", swapSrc, "--dry-run", "--quiet-for", "10ms")
	run(false, "cutover", "swap", "--rename", swapSrc, "--yes", "--quiet-for", "10ms")
	run(false, "rollback", "--rename", src, "--yes")

	// -o yaml: the same document as YAML.
	for _, args := range [][]string{{"status"}, {"plan"}, {"history"}, {"catalog"}, {"rollback", "--rename", src, "--dry-run"}} {
		var out, errOut bytes.Buffer
		full := append([]string{"migrator", "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "-o", "yaml"}, args...)
		if err := newApp(&out, &errOut).Run(full); err != nil {
			t.Fatalf("%v -o yaml: %v\n%s", args, err, errOut.String())
		}
		var docs int
		dec := yaml.NewDecoder(&out)
		for {
			var v any
			if err := dec.Decode(&v); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%v -o yaml: not YAML: %v", args, err)
			}
			docs++
		}
		if docs != 1 {
			t.Errorf("%v -o yaml: %d YAML documents on stdout, want 1", args, docs)
		}
	}
}
