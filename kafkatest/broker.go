package kafkatest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/admin"
)

// Broker is a real Apache Kafka broker of a test's own, started with
// scripts/kafka-up.sh on free ports, which the test may stop and restart
// (its data survives a restart). It is stopped when the test ends.
type Broker struct {
	*Cluster
	stateDir string
	repo     string
	args     []string // the broker's command line, for restarts
}

// StartBroker starts a broker of the test's own. Like the real subtest of
// Run it is skipped when no real Kafka is available (KAFKA_BOOTSTRAP_SERVERS
// unset), and fails instead when KAFKA_REQUIRE_REAL=1: the environment
// that has a broker has Java and the broker jars.
func StartBroker(t *testing.T) *Broker {
	t.Helper()
	if os.Getenv(EnvBootstrap) == "" {
		if os.Getenv(EnvRequireReal) == "1" {
			t.Fatalf("%s is not set but %s=1", EnvBootstrap, EnvRequireReal)
		}
		t.Skipf("own broker: %s is not set (make test starts a broker)", EnvBootstrap)
	}
	repo, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	port := freePorts(t, 2) // the client port and the controller's
	b := &Broker{stateDir: t.TempDir(), repo: repo}
	cmd := exec.Command(filepath.Join(repo, "scripts", "kafka-up.sh"))
	cmd.Env = append(os.Environ(), "KAFKA_PORT="+strconv.Itoa(port), "KAFKA_STATE_DIR="+b.stateDir, "KAFKA_HEAP_OPTS=-Xms128m -Xmx512m")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("start own broker: %v\n%s", err, stderr.String())
	}
	t.Cleanup(b.down)
	line := strings.TrimSpace(string(out))
	b.Cluster = &Cluster{Kind: Real, Bootstrap: strings.TrimPrefix(line[strings.LastIndex(line, "\n")+1:], EnvBootstrap+"=")}
	pid, err := b.pid()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatalf("broker command line: %v", err)
	}
	b.args = strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	return b
}

// Stop stops the broker cleanly (SIGTERM) and waits until it has exited.
func (b *Broker) Stop(t *testing.T) {
	t.Helper()
	pid, err := b.pid()
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stop broker %d: %v", pid, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("broker %d still running 60s after SIGTERM", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Start starts the stopped broker again on its data and waits until it
// serves requests.
func (b *Broker) Start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(b.stateDir, "logs", "kafka.out"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(b.args[0], b.args[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = b.stateDir, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("restart broker: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // Reap it when it exits.
	if err := os.WriteFile(filepath.Join(b.stateDir, "kafka.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cl, err := admin.Connect(ctx, b.Config(), nil)
		cancel()
		if err == nil {
			cl.Close()
			return
		}
		select {
		case werr := <-exited:
			t.Fatalf("restarted broker exited (%v) before serving; the end of its log:\n%s", werr, b.logTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker not serving 2 minutes after restart: %v; the end of its log:\n%s", err, b.logTail())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// logTail returns the last lines of the broker's logs (a port taken by
// another process, for one, shows only there).
func (b *Broker) logTail() string {
	var out strings.Builder
	for _, name := range []string{"server.log", "kafka.out"} {
		path := filepath.Join(b.stateDir, "logs", name)
		raw, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(&out, "%s: %v\n", path, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
		fmt.Fprintf(&out, "%s:\n%s\n", path, strings.Join(lines[max(len(lines)-20, 0):], "\n"))
	}
	return out.String()
}

func (b *Broker) pid() (int, error) {
	raw, err := os.ReadFile(filepath.Join(b.stateDir, "kafka.pid"))
	if err != nil {
		return 0, fmt.Errorf("broker pid: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

func (b *Broker) down() {
	cmd := exec.Command(filepath.Join(b.repo, "scripts", "kafka-down.sh"))
	cmd.Env = append(os.Environ(), "KAFKA_STATE_DIR="+b.stateDir)
	_ = cmd.Run()
}

// repoRoot is the directory holding go.mod, found from the working
// directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
