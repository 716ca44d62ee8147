// Package topicmigrator holds the files of the repository root that the
// migrator binary needs at run time, embedded: HuleEdu's topic list (the
// test fixture the demo seeds its embedded cluster with) and the shipped
// rename map. The code lives in the sub-packages.
package topicmigrator

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"strings"
)

// HuleEduTopicsTSV is testdata/huleedu-topics.tsv: HuleEdu's 69 topics, one
// "EVENT<TAB>topic" row each, after comment lines and a header row.
//
//go:embed testdata/huleedu-topics.tsv
var HuleEduTopicsTSV []byte

// RenameMapYAML is the shipped rename-map.yaml, for when the file is not at
// hand (the demo run outside the repository).
//
//go:embed rename-map.yaml
var RenameMapYAML []byte

// EventTopic is one HuleEdu event and the topic it is published on today.
type EventTopic struct {
	Event string
	Topic string
}

// HuleEduTopics returns HuleEdu's 69 topics from the embedded fixture, in
// file order.
func HuleEduTopics() ([]EventTopic, error) {
	return ParseTopics(HuleEduTopicsTSV)
}

// ParseTopics reads the fixture's format: "#" comment lines, an
// "event<TAB>topic" header, then one event and its topic per line.
func ParseTopics(data []byte) ([]EventTopic, error) {
	var out []EventTopic
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "event\t") {
			continue
		}
		ev, topic, ok := strings.Cut(line, "\t")
		if !ok || ev == "" || topic == "" {
			return nil, fmt.Errorf("topic list line %d: want EVENT<TAB>topic, got %q", n, line)
		}
		out = append(out, EventTopic{Event: ev, Topic: topic})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read topic list: %w", err)
	}
	return out, nil
}
