package admin_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/clientconfig"
	"github.com/huleedu/topic-migrator/kafkatest"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestConnectUnreachableBroker(t *testing.T) {
	addr := closedPort(t)
	props, err := clientconfig.ParseProperties([]byte("sasl.password=do-not-show-me\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientconfig.Config{BootstrapServers: addr, Timeout: 2 * time.Second, Properties: props}
	// The test's own deadline only guards against a hang; the error must
	// come from the 2 s operation timeout.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = admin.Connect(ctx, cfg, nil)
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	msg := err.Error()
	for _, want := range []string{"cannot reach Kafka at " + addr + " within 2s", "Connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "do-not-show-me") {
		t.Errorf("error shows the password: %q", msg)
	}
}

func TestConnectBadClientConfig(t *testing.T) {
	props, _ := clientconfig.ParseProperties([]byte("no.such.setting=1\n"))
	_, err := admin.Connect(context.Background(), clientconfig.Config{BootstrapServers: "x:1", Properties: props}, nil)
	if err == nil || !strings.Contains(err.Error(), `no.such.setting`) {
		t.Fatalf("err = %v, want it to name the unknown setting", err)
	}
}

func TestDescribeCluster(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		info, err := c.Admin(t).DescribeCluster(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Brokers) == 0 || info.ClusterID == "" {
			t.Errorf("cluster info = %+v", info)
		}
	})
}

// TestConnectRefusedFailsFast: nothing listening fails in seconds, not
// after the operation timeout, with one line naming the cause.
func TestConnectRefusedFailsFast(t *testing.T) {
	addr := closedPort(t)
	start := time.Now()
	_, err := admin.Connect(context.Background(), clientconfig.Config{BootstrapServers: addr, Timeout: 30 * time.Second}, nil)
	took := time.Since(start)
	if !errors.Is(err, admin.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	want := "cannot reach Kafka at " + addr + ": Connect to " + addr + " failed: Connection refused"
	if err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	if took > admin.DownGrace+3*time.Second {
		t.Errorf("took %s to report a refused connection", took)
	}
}

func TestCleanCause(t *testing.T) {
	for in, want := range map[string]string{
		"[thrd:127.0.0.1:9/bootstrap]: 127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed: Connection refused (after 0ms in state CONNECT, 1 identical error(s) suppressed)": "Connect to 127.0.0.1:9 failed: Connection refused",
		"sasl_ssl://kafka:9093/bootstrap: SSL handshake failed: certificate verify failed (after 12ms in state SSL_HANDSHAKE)":                                                      "SSL handshake failed: certificate verify failed",
		"kafka:1/1: Failed to resolve 'kafka:1': Name or service not known (after 3ms in state CONNECT)":                                                                            "Failed to resolve 'kafka:1': Name or service not known",
		"Local: Timed out": "Local: Timed out",
	} {
		if got := admin.CleanCause(in); got != want {
			t.Errorf("CleanCause(%q) = %q, want %q", in, got, want)
		}
	}
}
