package clientconfig

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// DefaultTimeout bounds how long any single Kafka operation may wait for the
// cluster before it fails with a clear error.
const DefaultTimeout = 30 * time.Second

// Config is how the migrator reaches the cluster.
type Config struct {
	// BootstrapServers from --bootstrap-servers; it wins over a
	// bootstrap.servers line in the properties file.
	BootstrapServers string
	// Properties from --command-config, may be nil.
	Properties *Properties
	// Timeout bounds each blocking Kafka call (default 30 s).
	Timeout time.Duration
}

// Bootstrap returns the bootstrap servers the config will use.
func (c Config) Bootstrap() string {
	if c.BootstrapServers != "" {
		return c.BootstrapServers
	}
	v, _ := c.Properties.Get("bootstrap.servers")
	return v
}

// OperationTimeout returns the bound on one blocking call.
func (c Config) OperationTimeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// ErrNoBootstrap is returned when no bootstrap servers are configured.
var ErrNoBootstrap = errors.New("no Kafka bootstrap servers: set --bootstrap-servers, MIGRATOR_BOOTSTRAP_SERVERS or bootstrap.servers in --command-config")

// javaOnly are Java client settings that librdkafka expresses differently;
// they are translated (or refused with advice) rather than passed through.
var javaOnly = map[string]bool{
	"sasl.jaas.config": true, "ssl.truststore.location": true, "ssl.truststore.password": true,
	"ssl.truststore.type": true, "ssl.keystore.type": true, "ssl.truststore.certificates": true,
	"ssl.keystore.key": true, "ssl.keystore.certificate.chain": true,
	"bootstrap.servers": true,
}

// ProducerChannels returns m with the sizes of a confluent-kafka-go
// producer's Go channels set for a producer whose Events channel only
// carries errors (and whose records never go through ProduceChannel). By
// default NewProducer makes both channels a million entries long: 24 MB of
// pointer slots per producer that the garbage collector counts as live heap
// and scans in every cycle.
func ProducerChannels(m kafka.ConfigMap) kafka.ConfigMap {
	m["go.events.channel.size"] = 1000
	m["go.produce.channel.size"] = 1
	return m
}

// ConfigMap returns librdkafka settings for a client: the bootstrap servers,
// every property of the command config (Java names translated), then
// extra, which wins. Secrets are never part of the returned error.
func (c Config) ConfigMap(extra kafka.ConfigMap) (kafka.ConfigMap, error) {
	bootstrap := c.Bootstrap()
	if bootstrap == "" {
		return nil, ErrNoBootstrap
	}
	m := kafka.ConfigMap{"bootstrap.servers": bootstrap}
	for _, k := range c.Properties.Keys() {
		if javaOnly[k] || javaClientOnly[k] {
			continue
		}
		v, _ := c.Properties.Get(k)
		if k == "ssl.endpoint.identification.algorithm" && v == "" {
			v = "none" // Java's empty value means "no hostname check".
		}
		m[k] = v
	}
	if err := c.translateJava(m); err != nil {
		return nil, err
	}
	for k, v := range extra {
		m[k] = v
	}
	return m, nil
}

var jaasOptionRE = regexp.MustCompile(`(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"`)

// translateJava maps the Java-only settings of a client.properties file to
// their librdkafka equivalents.
func (c Config) translateJava(m kafka.ConfigMap) error {
	if jaas, ok := c.Properties.Get("sasl.jaas.config"); ok {
		switch {
		case strings.Contains(jaas, "PlainLoginModule"), strings.Contains(jaas, "ScramLoginModule"):
			opts := map[string]string{}
			for _, sub := range jaasOptionRE.FindAllStringSubmatch(jaas, -1) {
				opts[sub[1]] = strings.ReplaceAll(sub[2], `\"`, `"`)
			}
			if opts["username"] == "" {
				return fmt.Errorf("%s: sasl.jaas.config has no username=\"...\" option", c.Properties.Where("sasl.jaas.config"))
			}
			if _, set := m["sasl.username"]; !set {
				m["sasl.username"] = opts["username"]
			}
			if _, set := m["sasl.password"]; !set {
				m["sasl.password"] = opts["password"]
			}
		default:
			return fmt.Errorf("%s: sasl.jaas.config: only PlainLoginModule and ScramLoginModule can be translated; set sasl.username and sasl.password (or the librdkafka sasl.oauthbearer.* settings) instead", c.Properties.Where("sasl.jaas.config"))
		}
	}
	if loc, ok := c.Properties.Get("ssl.truststore.location"); ok {
		typ, _ := c.Properties.Get("ssl.truststore.type")
		if !strings.EqualFold(typ, "PEM") {
			return fmt.Errorf("%s: ssl.truststore.location %q is a Java %s truststore, which librdkafka cannot read; export the CA certificate as PEM and set ssl.ca.location (or set ssl.truststore.type=PEM)", c.Properties.Where("ssl.truststore.location"), loc, orDefault(typ, "JKS"))
		}
		m["ssl.ca.location"] = loc
	}
	if pem, ok := c.Properties.Get("ssl.truststore.certificates"); ok {
		m["ssl.ca.pem"] = pem
	}
	if pem, ok := c.Properties.Get("ssl.keystore.key"); ok {
		m["ssl.key.pem"] = pem
	}
	if pem, ok := c.Properties.Get("ssl.keystore.certificate.chain"); ok {
		m["ssl.certificate.pem"] = pem
	}
	if typ, ok := c.Properties.Get("ssl.keystore.type"); ok && !strings.EqualFold(typ, "PKCS12") && !strings.EqualFold(typ, "PEM") {
		return fmt.Errorf("%s: ssl.keystore.type %s is not readable by librdkafka; convert the keystore to PKCS12 or PEM (ssl.certificate.location and ssl.key.location)", c.Properties.Where("ssl.keystore.type"), typ)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// secretKeyRE matches the names of settings whose values are secrets.
var secretKeyRE = regexp.MustCompile(`(?i)(password|secret|jaas|token|credential|\.pem$|ssl\.key\.|keystore\.key$)`)

// IsSecret reports whether the value of setting key must not be shown.
func IsSecret(key string) bool { return secretKeyRE.MatchString(key) }

// Redacted returns the settings of m as "key=value" lines, sorted, with
// every secret value replaced by [redacted]: safe to log.
func Redacted(m kafka.ConfigMap) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := fmt.Sprint(m[k])
		if IsSecret(k) {
			v = "[redacted]"
		}
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	return b.String()
}

// Secrets returns the secret values of the config (passwords, keys, the
// JAAS line), for scrubbing text before it is shown.
func (c Config) Secrets() []string {
	var out []string
	for _, k := range c.Properties.Keys() {
		if !IsSecret(k) {
			continue
		}
		v, _ := c.Properties.Get(k)
		if v != "" {
			out = append(out, v)
		}
		if k == "sasl.jaas.config" {
			for _, sub := range jaasOptionRE.FindAllStringSubmatch(v, -1) {
				if sub[1] == "password" && sub[2] != "" {
					out = append(out, sub[2])
				}
			}
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// Scrub replaces every secret of the config in s by [redacted].
func (c Config) Scrub(s string) string {
	for _, secret := range c.Secrets() {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

// ScrubError returns err with every secret of the config removed from its
// message; nil stays nil. The result still unwraps to err.
func (c Config) ScrubError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := c.Scrub(msg)
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
