package clientconfig

import (
	"errors"
	"fmt"
	"os"
	"regexp"
)

// javaClientOnly are Java client settings that librdkafka has no
// equivalent for and that a connection does not need: a real
// client.properties file often carries them. They are skipped (see
// Properties.Skipped) rather than refused.
var javaClientOnly = map[string]bool{
	"ssl.protocol": true, "ssl.enabled.protocols": true, "ssl.provider": true,
	"ssl.keymanager.algorithm": true, "ssl.trustmanager.algorithm": true,
	"ssl.secure.random.implementation": true, "ssl.engine.factory.class": true,
	"security.providers": true, "default.api.timeout.ms": true,
	"sasl.login.callback.handler.class": true, "sasl.client.callback.handler.class": true, "sasl.login.class": true,
	"sasl.login.refresh.window.factor": true, "sasl.login.refresh.window.jitter": true,
	"sasl.login.refresh.min.period.seconds": true, "sasl.login.refresh.buffer.seconds": true,
	"sasl.login.connect.timeout.ms": true, "sasl.login.read.timeout.ms": true,
	"sasl.login.retry.backoff.ms": true, "sasl.login.retry.backoff.max.ms": true,
	"sasl.kerberos.ticket.renew.window.factor": true, "sasl.kerberos.ticket.renew.jitter": true,
	"key.serializer": true, "value.serializer": true, "key.deserializer": true, "value.deserializer": true,
	"interceptor.classes": true, "metric.reporters": true, "metrics.num.samples": true,
	"metrics.recording.level": true, "metrics.sample.window.ms": true, "auto.include.jmx.reporter": true,
	"exclude.internal.topics": true,
	// ssl.truststore.type says how to read ssl.truststore.location (see
	// translateJava); by itself it is nothing librdkafka needs.
	"ssl.truststore.type": true,
}

// Skipped is a setting of the properties file that is not passed to
// librdkafka.
type Skipped struct {
	Key  string
	Line int
}

// Skipped returns the Java-only settings of the file that are ignored, in
// file order, for a warning naming each.
func (p *Properties) Skipped() []Skipped {
	var out []Skipped
	_, truststore := p.Get("ssl.truststore.location")
	for _, k := range p.Keys() {
		if javaClientOnly[k] && !(k == "ssl.truststore.type" && truststore) {
			out = append(out, Skipped{Key: k, Line: p.lines[k]})
		}
	}
	return out
}

// Path returns the file the properties were read from ("" when parsed
// from memory).
func (p *Properties) Path() string {
	if p == nil {
		return ""
	}
	return p.path
}

// Where names where key was set, as "FILE line N", for messages.
func (p *Properties) Where(key string) string {
	if p == nil {
		return ""
	}
	file := p.path
	if file == "" {
		file = "command config"
	}
	if n, ok := p.lines[key]; ok && n > 0 {
		return fmt.Sprintf("%s line %d", file, n)
	}
	return file
}

// fileSettings are the librdkafka settings that name a file.
var fileSettings = []string{
	"ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.keystore.location",
	"ssl.crl.location", "ssl.truststore.location", "sasl.kerberos.keytab",
}

// CheckFiles checks, before any connection, that every file the
// properties name can be read; the error names the setting, the file it
// names, and where it was set.
func (p *Properties) CheckFiles() error {
	var errs []error
	for _, k := range fileSettings {
		v, ok := p.Get(k)
		if !ok || v == "" || (k == "ssl.ca.location" && v == "probe") {
			continue
		}
		f, err := os.Open(v)
		if err != nil {
			why := err
			var pe *os.PathError
			if errors.As(err, &pe) {
				why = pe.Err
			}
			errs = append(errs, fmt.Errorf("%s: %s %s: %w", p.Where(k), k, v, why))
			continue
		}
		f.Close()
	}
	return errors.Join(errs...)
}

var unknownPropertyRE = regexp.MustCompile(`No such configuration property: "([^"]+)"`)

// ExplainError names where a setting librdkafka refused was set, when it
// came from the properties file: "client.properties line 4: ...".
func (c Config) ExplainError(err error) error {
	if err == nil || c.Properties == nil {
		return err
	}
	m := unknownPropertyRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	if _, ok := c.Properties.Get(m[1]); !ok {
		return err
	}
	return fmt.Errorf("%s: %w (librdkafka has no such setting; see https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md)", c.Properties.Where(m[1]), err)
}
