package kafkatest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/huleedu/topic-migrator/clientconfig"
)

// Environment variables naming the SASL_SSL broker started by
// scripts/kafka-up-secure.sh (scripts/test.sh starts one and sets both).
const (
	// EnvSecureBootstrap is the broker's SASL_SSL address.
	EnvSecureBootstrap = "KAFKA_SECURE_BOOTSTRAP"
	// EnvSecureDir holds ca.pem and USER.properties for admin, bridge and
	// operator.
	EnvSecureDir = "KAFKA_SECURE_DIR"
)

// Secure is a cluster reached over SASL_SSL as the super user admin.
// Its Config, ConfigMap, Admin, CreateTopic, Produce and ReadPartition all
// authenticate as admin.
type Secure struct {
	*Cluster
	// Dir holds the broker's CA (ca.pem) and the client properties files.
	Dir string
}

// NewSecure returns the SASL_SSL broker named by KAFKA_SECURE_BOOTSTRAP
// and KAFKA_SECURE_DIR after deleting every topic, consumer group and ACL
// on it. It skips the test when they are unset, and fails it instead when
// KAFKA_REQUIRE_REAL=1. It is a Real cluster: the same rules apply (no
// t.Parallel).
func NewSecure(t testing.TB) *Secure {
	t.Helper()
	bootstrap, dir := os.Getenv(EnvSecureBootstrap), os.Getenv(EnvSecureDir)
	if bootstrap == "" || dir == "" {
		if os.Getenv(EnvRequireReal) == "1" {
			t.Fatalf("%s and %s are not set but %s=1: start a broker with scripts/kafka-up-secure.sh", EnvSecureBootstrap, EnvSecureDir, EnvRequireReal)
		}
		t.Skipf("secure Kafka: %s and %s are not set (make test starts a broker)", EnvSecureBootstrap, EnvSecureDir)
	}
	s := &Secure{Cluster: &Cluster{Kind: Real, Bootstrap: bootstrap}, Dir: dir}
	props, err := clientconfig.LoadProperties(s.Properties("admin"))
	if err != nil {
		t.Fatal(err)
	}
	s.props = props
	s.reset(t)
	return s
}

// Properties returns the path of the client properties file of user
// (admin, bridge or operator), for --command-config.
func (s *Secure) Properties(user string) string {
	return filepath.Join(s.Dir, user+".properties")
}
