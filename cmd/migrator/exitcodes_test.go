package main

import (
	"net"
	"strings"
	"testing"
	"time"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestExitUnreachable: nothing listening at the bootstrap address fails
// in seconds, exit 7, with one line naming the cause.
func TestExitUnreachable(t *testing.T) {
	addr := closedAddr(t)
	start := time.Now()
	_, _, err := run(t, "-b", addr, "ping")
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("a refused connection took %s to report", took)
	}
	if exitCode(err) != exitUnreachable {
		t.Fatalf("ping %s: %v (exit %d), want exit %d", addr, err, exitCode(err), exitUnreachable)
	}
	msg := err.Error()
	if want := "cannot reach Kafka at " + addr + ": Connect to " + addr + " failed: Connection refused"; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
	if strings.Contains(msg, "thrd:") || strings.Contains(msg, "\n") {
		t.Errorf("message %q is not one clean line", msg)
	}
}
