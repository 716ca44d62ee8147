package output

import (
	"bytes"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestYAMLKeepsJSONNamesAndTypes(t *testing.T) {
	v := struct {
		Zeta   string         `json:"zeta"`
		Alpha  int            `json:"alpha"`
		Number string         `json:"number_as_text"`
		Yes    string         `json:"yes_as_text"`
		Empty  []string       `json:"empty"`
		Nested map[string]any `json:"nested,omitempty"`
	}{Zeta: "z", Alpha: 1, Number: "123", Yes: "true", Nested: map[string]any{"k": nil}}
	var b bytes.Buffer
	if err := (Printer{Format: YAML, W: &b}).Print(v, nil, nil); err != nil {
		t.Fatal(err)
	}
	want := "zeta: z\nalpha: 1\nnumber_as_text: \"123\"\nyes_as_text: \"true\"\nempty: null\nnested:\n  k: null\n"
	if b.String() != want {
		t.Errorf("yaml:\n%s\nwant:\n%s", b.String(), want)
	}
	var back map[string]any
	if err := yaml.Unmarshal(b.Bytes(), &back); err != nil || back["number_as_text"] != "123" || back["yes_as_text"] != "true" {
		t.Errorf("read back: %v %v", back, err)
	}
}
