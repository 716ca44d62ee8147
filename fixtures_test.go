package topicmigrator

import (
	"strings"
	"testing"
)

func TestHuleEduTopics(t *testing.T) {
	topics, err := HuleEduTopics()
	if err != nil {
		t.Fatal(err)
	}
	if len(topics) != 69 {
		t.Fatalf("%d topics, want HuleEdu's 69", len(topics))
	}
	if topics[0] != (EventTopic{"ESSAY_SPELLCHECK_REQUESTED", "huleedu.essay.spellcheck.requested.v1"}) {
		t.Errorf("first topic = %+v", topics[0])
	}
	if _, err := ParseTopics([]byte("# c\nevent\ttopic\nNO_TAB\n")); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("err = %v, want line 3", err)
	}
	if !strings.Contains(string(RenameMapYAML), "huleedu.email.delivery_failed.v1") {
		t.Error("the embedded rename map is not the shipped one")
	}
}
