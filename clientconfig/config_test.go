package clientconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	src := `# Kafka client.properties
! another comment
security.protocol=SASL_SSL
sasl.mechanism : SCRAM-SHA-512
ssl.ca.location /etc/kafka/ca.pem
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
    username="migrator" \
    password="s3cr=t\"x";
client.id=a\tb\u0041
`
	p, err := ParseProperties([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"security.protocol": "SASL_SSL",
		"sasl.mechanism":    "SCRAM-SHA-512",
		"ssl.ca.location":   "/etc/kafka/ca.pem",
		"sasl.jaas.config":  `org.apache.kafka.common.security.scram.ScramLoginModule required username="migrator" password="s3cr=t"x";`,
		"client.id":         "a\tbA",
	}
	for k, v := range want {
		if got, _ := p.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if strings.Join(p.Keys(), ",") != "security.protocol,sasl.mechanism,ssl.ca.location,sasl.jaas.config,client.id" {
		t.Errorf("keys in order = %v", p.Keys())
	}
}

func TestParsePropertiesErrors(t *testing.T) {
	for _, src := range []string{"=value\n", "a=\\u12\n", "a=\\uZZZZ\n"} {
		if _, err := ParseProperties([]byte(src)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ParseProperties(%q) = %v, want an error on line 1", src, err)
		}
	}
}

func TestLoadPropertiesMissing(t *testing.T) {
	_, err := LoadProperties(filepath.Join(t.TempDir(), "nope.properties"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.properties") {
		t.Fatalf("err = %v", err)
	}
}

func mustProps(t *testing.T, src string) *Properties {
	t.Helper()
	p, err := ParseProperties([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigMapTranslatesJavaSettings(t *testing.T) {
	cfg := Config{Properties: mustProps(t, `bootstrap.servers=file:9092
security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="u1" password="p@ss";
ssl.truststore.type=PEM
ssl.truststore.location=/ca.pem
ssl.endpoint.identification.algorithm=
`)}
	m, err := cfg.ConfigMap(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"bootstrap.servers": "file:9092", "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
		"sasl.username": "u1", "sasl.password": "p@ss", "ssl.ca.location": "/ca.pem",
		"ssl.endpoint.identification.algorithm": "none",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %q", k, m[k], v)
		}
	}
	for _, k := range []string{"sasl.jaas.config", "ssl.truststore.location", "ssl.truststore.type"} {
		if _, ok := m[k]; ok {
			t.Errorf("Java-only %s passed to librdkafka", k)
		}
	}
	cfg.BootstrapServers = "flag:9092"
	if m, _ := cfg.ConfigMap(nil); m["bootstrap.servers"] != "flag:9092" {
		t.Errorf("flag did not win over the file: %v", m["bootstrap.servers"])
	}
}

func TestConfigMapRefusals(t *testing.T) {
	cases := []struct{ props, want string }{
		{"", "no Kafka bootstrap servers"},
		{"bootstrap.servers=x\nssl.truststore.location=/t.jks\nssl.truststore.password=hunter22", "is a Java JKS truststore"},
		{"bootstrap.servers=x\nssl.keystore.type=JKS", "ssl.keystore.type JKS is not readable by librdkafka"},
		{"bootstrap.servers=x\nsasl.jaas.config=com.example.Kerberos required;", "only PlainLoginModule and ScramLoginModule"},
	}
	for _, c := range cases {
		_, err := Config{Properties: mustProps(t, c.props)}.ConfigMap(nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("props %q: err = %v, want %q", c.props, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter22") {
			t.Errorf("error shows a password: %v", err)
		}
	}
}

func TestSecretsAreScrubbed(t *testing.T) {
	cfg := Config{Properties: mustProps(t, `sasl.password=topsecret1
ssl.key.password=keypass2
sasl.jaas.config=x.ScramLoginModule required username="u" password="jaaspw3";
sasl.username=alice
`)}
	msg := "auth failed for alice with topsecret1, keypass2 and jaaspw3"
	got := cfg.ScrubError(errors.New(msg)).Error()
	for _, s := range []string{"topsecret1", "keypass2", "jaaspw3"} {
		if strings.Contains(got, s) {
			t.Errorf("scrubbed error %q still shows %q", got, s)
		}
	}
	if !strings.Contains(got, "alice") {
		t.Errorf("scrubbed error %q lost the (non-secret) user name", got)
	}
	m, _ := Config{BootstrapServers: "b", Properties: cfg.Properties}.ConfigMap(nil)
	red := Redacted(m)
	if strings.Contains(red, "topsecret1") || strings.Contains(red, "keypass2") || strings.Contains(red, "jaaspw3") || !strings.Contains(red, "sasl.password=[redacted]") {
		t.Errorf("Redacted shows secrets:\n%s", red)
	}
}
