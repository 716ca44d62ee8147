package main

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/plan"
)

const shippedMap = "../../rename-map.yaml"

func runPlan(t *testing.T, c *kafkatest.Cluster, args ...string) (*plan.Plan, error) {
	t.Helper()
	out, _, err := run(t, append([]string{"-b", c.Bootstrap, "--map", shippedMap, "-o", "json", "plan"}, args...)...)
	var p plan.Plan
	if jerr := json.Unmarshal([]byte(out), &p); jerr != nil {
		t.Fatalf("plan output is not JSON (%v): %s (err %v)", jerr, out, err)
	}
	return &p, err
}

// TestPlanHuleEdu plans the shipped map over HuleEdu's 69 real topics.
func TestPlanHuleEdu(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		c.SeedHuleEdu(t, 3)
		p, err := runPlan(t, c, "--detailed-exitcode")
		if exitCode(err) != exitChanges {
			t.Fatalf("exit code %d (%v), want %d: changes", exitCode(err), err, exitChanges)
		}
		var swaps, creates []string
		for _, r := range p.Renames {
			switch r.Action {
			case plan.ActionCreateStaging:
				swaps = append(swaps, r.From)
				var collision bool
				for _, f := range r.Findings {
					collision = collision || (f.Code == "collision" && f.Severity == plan.Info && strings.Contains(f.Message, "collides with its source "+r.From))
				}
				if !collision {
					t.Errorf("swap %s → %s: no collision finding: %+v", r.From, r.To, r.Findings)
				}
				if r.Create.Name != plan.StagingTopic(r.To) || r.Create.Partitions != 3 || r.Create.Configs["retention.ms"] != "604800000" {
					t.Errorf("swap %s creates %+v", r.From, r.Create)
				}
			case plan.ActionCreate:
				creates = append(creates, r.From)
			default:
				t.Errorf("rename %s: action %s, findings %+v", r.From, r.Action, r.Findings)
			}
		}
		if len(swaps) != 9 || len(creates) != 2 {
			t.Errorf("swaps %v, creates %v; want the 9 colliding renames and the 2 command renames", swaps, creates)
		}
		var underscores, noContract []string
		for _, f := range p.Findings {
			switch f.Code {
			case "naming":
				if strings.Contains(f.Message, "has '_'") {
					underscores = append(underscores, f.Topic)
				}
			case "no-contract":
				noContract = append(noContract, f.Topic)
			}
		}
		wantUnderscores := []string{
			"huleedu.batch.ai_feedback.initiate.command.v1", "huleedu.batch.cj_assessment.initiate.command.v1",
			"huleedu.cj_assessment.completed.v1", "huleedu.cj_assessment.failed.v1", "huleedu.els.cj_assessment.requested.v1",
		}
		if strings.Join(underscores, ",") != strings.Join(wantUnderscores, ",") {
			t.Errorf("underscore topics = %v\nwant %v", underscores, wantUnderscores)
		}
		sort.Strings(noContract)
		want := "assessment,cj_assessment,els,file,notification,pipeline,ras,resource"
		if strings.Join(noContract, ",") != want {
			t.Errorf("domains without contract = %v, want %s", noContract, want)
		}
	})
}

func TestPlanCollisionBlocksDualRename(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		c.CreateTopic(t, "x.delivery_failed.v1", 1, nil)
		mapFile := writeFile(t, "map.yaml", "version: 1\nrenames:\n  - {from: x.delivery_failed.v1, to: x.delivery.failed.v1}\n")
		out, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "plan", "--detailed-exitcode")
		if exitCode(err) != exitFailure {
			t.Fatalf("exit code %d (%v), want 1", exitCode(err), err)
		}
		for _, want := range []string{"blocked", "Kafka refuses to create x.delivery.failed.v1 while x.delivery_failed.v1 exists", "x.delivery.failed.v2", "strategy: swap"} {
			if !strings.Contains(out, want) {
				t.Errorf("plan output lacks %q:\n%s", want, out)
			}
		}
	})
}
