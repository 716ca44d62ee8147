// Package benchkafka holds what the benchmark programs share.
package benchkafka

import (
	"errors"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Produce enqueues m on p; while p's queue is full it serves delivery
// reports for 10 ms and tries again.
func Produce(p *kafka.Producer, m *kafka.Message) error {
	for {
		err := p.Produce(m, nil)
		if err == nil {
			return nil
		}
		var kerr kafka.Error
		if !errors.As(err, &kerr) || kerr.Code() != kafka.ErrQueueFull {
			return err
		}
		p.Flush(10)
	}
}

// FlushAll waits until p has delivered everything it was given.
func FlushAll(p *kafka.Producer) {
	for p.Flush(1000) > 0 {
	}
}
