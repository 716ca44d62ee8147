package main

import (
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// With -pin: the broker on brokerCPU, each contender on contenderCPU. The
// benchmark's own work while a contender runs (the watcher's offset polls,
// the steady phase's load generator and latency reader) shares the
// broker's CPU, so that the contender's CPU is its own; loading a backlog
// and reading a copy back whole (nothing is measured then) use both.
const brokerCPU, contenderCPU = "0", "1"

// pinBroker pins every thread of the broker's JVM to brokerCPU and returns
// what restores its affinity (also run on SIGINT/SIGTERM).
func pinBroker() (func(), error) {
	if _, err := exec.LookPath("taskset"); err != nil {
		return nil, fmt.Errorf("-pin needs taskset (util-linux): %w", err)
	}
	if n := len(cpusAllowed()); n < 2 {
		return nil, fmt.Errorf("-pin needs 2 CPUs, this process may use %d", n)
	}
	pid := *brokerPid
	if pid == 0 {
		dir := os.Getenv("KAFKA_STATE_DIR")
		if dir == "" {
			dir = ".kafka"
		}
		file := filepath.Join(dir, "kafka.pid")
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("-pin: the broker's pid: %w (set -broker-pid or KAFKA_STATE_DIR)", err)
		}
		if pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
			return nil, fmt.Errorf("-pin: %s: %w", file, err)
		}
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "kafka") {
		return nil, fmt.Errorf("-pin: process %d is not a running Kafka broker (set -broker-pid)", pid)
	}
	out, err := exec.Command("taskset", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		return nil, fmt.Errorf("-pin: taskset -p %d: %w", pid, err)
	}
	f := strings.Fields(string(out)) // "pid 123's current affinity mask: 3"
	mask := f[len(f)-1]
	if out, err := exec.Command("taskset", "-a", "-cp", brokerCPU, strconv.Itoa(pid)).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("-pin: taskset -a -cp %s %d: %v\n%s", brokerCPU, pid, err, out)
	}
	log.Printf("pinned: broker (pid %d, every thread) on CPU %s (was mask %s), contenders on CPU %s, the benchmark's watcher, load generator and latency reader on CPU %s while a contender runs",
		pid, brokerCPU, mask, contenderCPU, brokerCPU)
	restore := func() {
		if out, err := exec.Command("taskset", "-a", "-p", mask, strconv.Itoa(pid)).CombinedOutput(); err != nil {
			log.Printf("restoring the broker's affinity (taskset -a -p %s %d): %v\n%s", mask, pid, err, out)
		} else {
			log.Printf("broker (pid %d) affinity restored to mask %s", pid, mask)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		restore()
		os.Exit(130)
	}()
	return restore, nil
}

var allCPUs = cpusAllowed()

// cpusAllowed is this process's Cpus_allowed_list, e.g. "0-1".
func cpusAllowed() []string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			var cpus []string
			for _, r := range strings.Split(strings.TrimSpace(v), ",") {
				lo, hi, ok := strings.Cut(r, "-")
				if !ok {
					cpus = append(cpus, lo)
					continue
				}
				a, _ := strconv.Atoi(lo)
				z, _ := strconv.Atoi(hi)
				for i := a; i <= z; i++ {
					cpus = append(cpus, strconv.Itoa(i))
				}
			}
			return cpus
		}
	}
	return nil
}

// pinSelf, with -pin, moves every thread of this process to brokerCPU
// while a contender runs (on) and back to every CPU (off).
func pinSelf(on bool) {
	if !*pin {
		return
	}
	cpus := strings.Join(allCPUs, ",")
	if on {
		cpus = brokerCPU
	}
	if out, err := exec.Command("taskset", "-a", "-cp", cpus, strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
		log.Printf("taskset -a -cp %s (the benchmark itself): %v\n%s", cpus, err, out)
	}
}

// pinCmd, with -pin, runs cmd under taskset -c contenderCPU. taskset execs
// the command, and scripts/mm2.sh execs the JVM, so the pid stays the
// contender's and every thread it starts inherits the CPU.
func pinCmd(cmd *exec.Cmd) *exec.Cmd {
	if !*pin {
		return cmd
	}
	ts, _ := exec.LookPath("taskset")
	cmd.Args = append([]string{"taskset", "-c", contenderCPU, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = ts
	return cmd
}

// cmdProfile is the CPU profile file a command was told to write.
func cmdProfile(cmd *exec.Cmd) string {
	for _, e := range cmd.Env {
		if v, ok := strings.CutPrefix(e, "MIGRATOR_CPUPROFILE="); ok {
			return v
		}
	}
	return ""
}
