package main

import (
	"strings"
	"testing"
)

// TestValidateMapFindsCyclesChainsCollisions offline: no cluster is named.
func TestValidateMapFindsCyclesChainsCollisions(t *testing.T) {
	t.Setenv("MIGRATOR_BOOTSTRAP_SERVERS", "")
	for name, c := range map[string]struct{ renames, want string }{
		"cycle":     {"  - {from: a.x.v1, to: a.y.v1}\n  - {from: a.y.v1, to: a.x.v1}\n", "cycle: a.x.v1 → a.y.v1: renames form a cycle"},
		"chain":     {"  - {from: a.x.v1, to: a.y.v1}\n  - {from: a.y.v1, to: a.z.v1}\n", "chain: a.x.v1 → a.y.v1: a.y.v1 is the target of this rename and the source of another (a.y.v1 → a.z.v1)"},
		"collision": {"  - {from: c.one.v1, to: c.same_name.v1}\n  - {from: c.two.v1, to: c.same.name.v1}\n", "targets c.same_name.v1 and c.same.name.v1 differ only in '.' against '_'"},
	} {
		mapFile := writeFile(t, name+".yaml", "version: 1\nrenames:\n"+c.renames)
		_, _, err := run(t, "--map", mapFile, "validate-map")
		if exitCode(err) != exitFailure || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), mapFile) {
			t.Errorf("%s: validate-map: %v (exit %d), want exit 1 naming %s and %q", name, err, exitCode(err), mapFile, c.want)
		}
		_, _, err = run(t, "--map", mapFile, "lint")
		if exitCode(err) != exitFailure {
			t.Errorf("%s: lint: %v (exit %d), want exit 1 (an error finding)", name, err, exitCode(err))
		}
	}
}
