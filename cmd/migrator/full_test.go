package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/kafkatest"
)

// liveProducer writes "<name>#<i>" every few milliseconds to its current
// topic until stopped; switchTo changes the topic between two writes.
type liveProducer struct {
	mu      sync.Mutex
	topic   string
	sent    []string
	stop    chan struct{}
	done    chan struct{}
	paused  bool
	produce func(topic, value string) error
}

func startProducer(t *testing.T, c *kafkatest.Cluster, name, topic string) *liveProducer {
	p, err := kafka.NewProducer(c.ConfigMap(kafka.ConfigMap{"enable.idempotence": true}))
	if err != nil {
		t.Fatal(err)
	}
	lp := &liveProducer{topic: topic, stop: make(chan struct{}), done: make(chan struct{})}
	lp.produce = func(topic, value string) error {
		reports := make(chan kafka.Event, 1)
		if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: []byte(value[len(value)-1:]), Value: []byte(value)}, reports); err != nil {
			return err
		}
		return (<-reports).(*kafka.Message).TopicPartition.Error
	}
	go func() {
		defer close(lp.done)
		defer p.Close()
		for i := 0; ; i++ {
			select {
			case <-lp.stop:
				return
			case <-time.After(15 * time.Millisecond):
			}
			lp.mu.Lock()
			if !lp.paused {
				v := fmt.Sprintf("%s#%d", name, i)
				if err := lp.produce(lp.topic, v); err != nil {
					t.Errorf("produce %s: %v", v, err)
				} else {
					lp.sent = append(lp.sent, v)
				}
			}
			lp.mu.Unlock()
		}
	}()
	return lp
}

// liveConsumer processes records of one group and commits after each.
type liveConsumer struct {
	stop chan struct{}
	done chan struct{}
}

func startConsumer(t *testing.T, c *kafkatest.Cluster, group, topic string, seen func(string)) *liveConsumer {
	cons, err := kafka.NewConsumer(c.ConfigMap(kafka.ConfigMap{"group.id": group, "enable.auto.commit": false, "auto.offset.reset": "earliest", "isolation.level": "read_committed"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Subscribe(topic, nil); err != nil {
		t.Fatal(err)
	}
	lc := &liveConsumer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(lc.done)
		defer cons.Close()
		for {
			select {
			case <-lc.stop:
				return
			default:
			}
			if m, ok := cons.Poll(50).(*kafka.Message); ok && m.TopicPartition.Error == nil {
				seen(string(m.Value))
				if _, err := cons.CommitMessage(m); err != nil {
					t.Errorf("group %s commit: %v", group, err)
				}
			}
		}
	}()
	return lc
}

func (lc *liveConsumer) close() { close(lc.stop); <-lc.done }

// TestFullMigrationWithLiveTraffic runs three renames through plan, apply,
// mirror, cutover consumers, cutover producers, verify and retire while
// producers write and two consumer groups per topic read: every group
// processes every record exactly once across the switch.
func TestFullMigrationWithLiveTraffic(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		names := []string{"alpha", "beta", "gamma"}
		var mapYAML bytes.Buffer
		mapYAML.WriteString("version: 1\nrenames:\n")
		for _, n := range names {
			c.CreateTopic(t, "full."+n+"_old.v1", 2, nil)
			fmt.Fprintf(&mapYAML, "  - {from: full.%s_old.v1, to: full.%s.new.v1}\n", n, n)
		}
		mapFile := writeFile(t, "map.yaml", mapYAML.String())
		stateFile := filepath.Join(t.TempDir(), "s.db")
		must := mustCLI(t, c, mapFile, stateFile)
		oldT := func(n string) string { return "full." + n + "_old.v1" }
		newT := func(n string) string { return "full." + n + ".new.v1" }

		must("plan")
		must("apply", "--yes")
		mirror := exec.Command(migratorBinary(t), "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "mirror", "--instance-id", "full", "--refresh", "1s")
		mirror.Stderr = &bytes.Buffer{}
		if err := mirror.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = mirror.Process.Signal(syscall.SIGTERM); _ = waitProcess(mirror, 45*time.Second) }()

		var mu sync.Mutex
		processed := map[string]map[string]int{} // group → value → times
		seen := func(group string) func(string) {
			return func(v string) {
				mu.Lock()
				defer mu.Unlock()
				if processed[group] == nil {
					processed[group] = map[string]int{}
				}
				processed[group][v]++
			}
		}
		producers := map[string]*liveProducer{}
		consumers := map[string]*liveConsumer{}
		for _, n := range names {
			producers[n] = startProducer(t, c, n, oldT(n))
			for _, g := range []string{"one", "two"} {
				group := n + "-" + g
				consumers[group] = startConsumer(t, c, group, oldT(n), seen(group))
			}
		}
		time.Sleep(2 * time.Second)

		// Consumers move, one group at a time, while producers keep writing to the old topics.
		for _, n := range names {
			for _, g := range []string{"one", "two"} {
				group := n + "-" + g
				consumers[group].close()
				must("drain", "--rename", oldT(n), "--timeout", "60s")
				must("cutover", "consumers", "--yes", "--rename", oldT(n), "--group", group)
				consumers[group] = startConsumer(t, c, group, newT(n), seen(group))
			}
		}
		time.Sleep(time.Second)
		// Producers move: pause, drain the bridge, switch, cut over.
		for _, n := range names {
			lp := producers[n]
			lp.mu.Lock()
			lp.paused = true
			lp.mu.Unlock()
			must("drain", "--rename", oldT(n), "--timeout", "60s")
			lp.mu.Lock()
			lp.topic, lp.paused = newT(n), false
			lp.mu.Unlock()
			must("cutover", "producers", "--yes", "--rename", oldT(n))
		}
		time.Sleep(time.Second)
		for _, n := range names {
			close(producers[n].stop)
			<-producers[n].done
		}

		// Every group processes every record once.
		deadline := time.Now().Add(60 * time.Second)
		for {
			complete := true
			mu.Lock()
			for _, n := range names {
				for _, g := range []string{"one", "two"} {
					if len(processed[n+"-"+g]) < len(producers[n].sent) {
						complete = false
					}
				}
			}
			mu.Unlock()
			if complete || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, lc := range consumers {
			lc.close()
		}
		for _, n := range names {
			sent := producers[n].sent
			if len(sent) < 50 {
				t.Errorf("%s: only %d records written", n, len(sent))
			}
			for _, g := range []string{"one", "two"} {
				got := processed[n+"-"+g]
				missing, dup := 0, 0
				for _, v := range sent {
					switch got[v] {
					case 0:
						missing++
					case 1:
					default:
						dup++
					}
				}
				if missing > 0 || dup > 0 || len(got) != len(sent) {
					t.Errorf("group %s-%s: %d of %d records missing, %d processed twice, %d processed in all", n, g, missing, len(sent), dup, len(got))
				}
			}
			must("verify", "--rename", oldT(n))
			must("retire", "--rename", oldT(n), "--yes", "--force", "--reason", "test", "--quiet-period", "0s")
		}
	})
}
