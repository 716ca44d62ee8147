package clientconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJavaOnlySettingsAreSkipped: a real client.properties carries Java
// client settings librdkafka lacks; they are skipped, named by line.
func TestJavaOnlySettingsAreSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client.properties")
	src := "bootstrap.servers=k:9092\nsecurity.protocol=SSL\nssl.protocol=TLSv1.3\nssl.enabled.protocols=TLSv1.3,TLSv1.2\n# a comment\nssl.truststore.type=PEM\nssl.endpoint.identification.algorithm=https\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadProperties(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range p.Skipped() {
		got = append(got, p.Where(s.Key)+": "+s.Key)
	}
	want := []string{path + " line 3: ssl.protocol", path + " line 4: ssl.enabled.protocols", path + " line 6: ssl.truststore.type"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("skipped:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// With a truststore, its type is used (translated), not skipped.
	if s := mustProps(t, "ssl.truststore.type=PEM\nssl.truststore.location=/ca.pem\n").Skipped(); len(s) != 0 {
		t.Errorf("skipped %v, want nothing", s)
	}
	m, err := Config{Properties: p}.ConfigMap(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ssl.protocol", "ssl.enabled.protocols", "ssl.truststore.type"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s passed to librdkafka", k)
		}
	}
	if m["security.protocol"] != "SSL" || m["ssl.endpoint.identification.algorithm"] != "https" {
		t.Errorf("config map = %v", m)
	}
}

// TestCheckFiles: a missing CA file (or key, or keystore) is named with
// its path and the line that set it, before any connection.
func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := mustProps(t, "ssl.ca.location="+ca+"\nssl.key.location="+dir+"/missing.key\n")
	p.path = "client.properties"
	err := p.CheckFiles()
	if !errors.Is(err, os.ErrNotExist) || err.Error() != "client.properties line 2: ssl.key.location "+dir+"/missing.key: no such file or directory" {
		t.Errorf("err = %v", err)
	}
	if err := mustProps(t, "ssl.ca.location=probe\n").CheckFiles(); err != nil {
		t.Errorf("ssl.ca.location=probe: %v", err)
	}
}

func TestRefusalsNameTheLine(t *testing.T) {
	p := mustProps(t, "bootstrap.servers=x\n\nssl.keystore.type=JKS\n")
	p.path = "client.properties"
	_, err := Config{Properties: p}.ConfigMap(nil)
	if err == nil || !strings.HasPrefix(err.Error(), "client.properties line 3: ssl.keystore.type JKS") {
		t.Errorf("err = %v", err)
	}
	explained := Config{Properties: p}.ExplainError(errors.New(`kafka client config: No such configuration property: "ssl.keystore.type"`))
	if !strings.HasPrefix(explained.Error(), "client.properties line 3: kafka client config: No such configuration property") {
		t.Errorf("explained = %v", explained)
	}
}
