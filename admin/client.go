// Package admin is the migrator's admin layer: it connects to the cluster,
// describes topics, configs, ACLs and consumer groups, and creates, alters
// and deletes topics and ACLs, retrying what Kafka reports as
// retriable. It knows nothing of renames, phases or the state: it answers
// what is on the cluster and does what it is told.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/clientconfig"
)

// Client is a connection to one Kafka cluster for admin operations.
type Client struct {
	cfg      clientconfig.Config
	producer *kafka.Producer
	admin    *kafka.AdminClient
	logs     *logSink
	requests atomic.Int64
}

// count records one admin API call.
func (c *Client) count() { c.requests.Add(1) }

// Requests returns how many admin API calls the client has made; each is
// one request to the cluster (librdkafka may split one across brokers).
func (c *Client) Requests() int64 { return c.requests.Load() }

// Connect opens an admin connection and proves the cluster answers within
// cfg's timeout, so that a broker that is down or unreachable gives a clear
// error instead of a hang.
func Connect(ctx context.Context, cfg clientconfig.Config, logger *slog.Logger) (*Client, error) {
	if logger == nil {
		logger = slog.Default()
	}
	sink := newLogSink(logger, cfg)
	cm, err := cfg.ConfigMap(clientconfig.ProducerChannels(kafka.ConfigMap{
		"go.logs.channel.enable": true,
		"go.logs.channel":        sink.ch,
		"client.id":              "topic-migrator-admin",
	}))
	if err != nil {
		return nil, err
	}
	// An admin client derived from a producer, because only producers and
	// consumers can forward librdkafka's logs to log/slog.
	p, err := kafka.NewProducer(&cm)
	if err != nil {
		return nil, cfg.ScrubError(cfg.ExplainError(fmt.Errorf("kafka client config: %w", err)))
	}
	a, err := kafka.NewAdminClientFromProducer(p)
	if err != nil {
		p.Close()
		return nil, cfg.ScrubError(fmt.Errorf("create admin client: %w", err))
	}
	c := &Client{cfg: cfg, producer: p, admin: a, logs: sink}
	if err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// ErrAuthentication is returned (wrapped) by Connect when the broker
// refuses the client's SASL credentials.
var ErrAuthentication = errors.New("SASL authentication failed")

// ErrUnreachable is returned (wrapped) by Connect when no broker of the
// cluster could be reached: nothing listens, the name does not resolve,
// the TLS handshake fails, or nothing answers within the timeout.
var ErrUnreachable = errors.New("cannot reach Kafka")

// DownGrace is how long Connect keeps trying after every bootstrap
// broker refused the connection (or its name did not resolve) before it
// gives up, well before the operation timeout: a broker restarting in
// that time is still reached, one that is down is reported in seconds.
const DownGrace = 3 * time.Second

// Ping asks the cluster to describe itself, within the operation timeout.
// Refused SASL credentials end it at once with ErrAuthentication rather
// than after the timeout: librdkafka would retry them until then; brokers
// that all refuse the connection end it after DownGrace.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OperationTimeout())
	defer cancel()
	authErr := make(chan kafka.Error, 1)
	down := make(chan kafka.Error, 1)
	stop := make(chan struct{})
	var watching sync.WaitGroup
	watching.Add(1)
	go func() {
		defer watching.Done()
		var grace <-chan time.Time
		var lastDown kafka.Error
		for {
			select {
			case <-stop:
				return
			case <-grace:
				down <- lastDown
				cancel()
				return
			case ev, ok := <-c.producer.Events():
				if !ok {
					return
				}
				e, isErr := ev.(kafka.Error)
				switch {
				case !isErr:
				case e.Code() == kafka.ErrAuthentication:
					select {
					case authErr <- e:
					default:
					}
					cancel()
				case e.Code() == kafka.ErrAllBrokersDown || e.Code() == kafka.ErrResolve:
					lastDown = e
					if grace == nil {
						grace = time.After(DownGrace)
					}
				case e.Code() == kafka.ErrTransport || e.Code() == kafka.ErrSsl:
					lastDown = e
				}
			}
		}
	}()
	c.count()
	_, err := c.admin.DescribeCluster(ctx)
	close(stop)
	watching.Wait()
	select {
	case e := <-authErr:
		return c.authenticationFailed(e)
	default:
	}
	select {
	case e := <-down:
		if err != nil {
			return c.cfg.ScrubError(fmt.Errorf("%w at %s: %s", ErrUnreachable, c.cfg.Bootstrap(), c.cause(e.Error())))
		}
	default:
	}
	if err == nil {
		return nil
	}
	return c.unreachable(ctx, err)
}

// authenticationFailed explains refused SASL credentials: who tried, with
// which mechanism, and the broker's reason; never the password.
func (c *Client) authenticationFailed(e kafka.Error) error {
	cm, _ := c.cfg.ConfigMap(nil)
	who := ""
	if u, ok := cm["sasl.username"]; ok && fmt.Sprint(u) != "" {
		who = fmt.Sprintf(" as user %q", fmt.Sprint(u))
	}
	if m, ok := cm["sasl.mechanism"]; ok {
		who += fmt.Sprintf(" (%v)", m)
	}
	return c.cfg.ScrubError(fmt.Errorf("Kafka at %s: %w%s: %s; check the user and password in --command-config (sasl.jaas.config, or sasl.username and sasl.password)",
		c.cfg.Bootstrap(), ErrAuthentication, who, CleanCause(e.Error())))
}

// unreachable explains a failed call: the cluster could not be reached,
// and the last connection error librdkafka logged says why.
func (c *Client) unreachable(ctx context.Context, err error) error {
	why := c.cause(err.Error())
	if ctx.Err() != nil || isTimeout(err) {
		return c.cfg.ScrubError(fmt.Errorf("%w at %s within %s: %s", ErrUnreachable, c.cfg.Bootstrap(), c.cfg.OperationTimeout(), why))
	}
	return c.cfg.ScrubError(fmt.Errorf("Kafka at %s: %s", c.cfg.Bootstrap(), why))
}

// cause is the last connection error librdkafka logged, or else fallback,
// as one line without librdkafka's thread and broker prefixes.
func (c *Client) cause(fallback string) string {
	if why := c.logs.lastError(); why != "" {
		return CleanCause(why)
	}
	return CleanCause(fallback)
}

var (
	threadPrefixRE = regexp.MustCompile(`^\[thrd:[^\]]*\]: `)
	brokerPrefixRE = regexp.MustCompile(`^\S+/(\d+|bootstrap): `)
	stateSuffixRE  = regexp.MustCompile(` \(after \d+ms in state \w+(, \d+ identical error\(s\) suppressed)?\)$`)
	suppressedRE   = regexp.MustCompile(` \(\d+ identical error\(s\) suppressed\)$`)
)

// CleanCause turns a librdkafka error line such as
// "[thrd:host:9/bootstrap]: host:9/bootstrap: Connect to ipv4#127.0.0.1:9
// failed: Connection refused (after 0ms in state CONNECT)" into its cause:
// "Connect to 127.0.0.1:9 failed: Connection refused".
func CleanCause(msg string) string {
	msg = strings.TrimSpace(msg)
	msg = threadPrefixRE.ReplaceAllString(msg, "")
	msg = brokerPrefixRE.ReplaceAllString(msg, "")
	msg = stateSuffixRE.ReplaceAllString(msg, "")
	msg = suppressedRE.ReplaceAllString(msg, "")
	msg = strings.NewReplacer("ipv4#", "", "ipv6#", "").Replace(msg)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

func isTimeout(err error) bool {
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		return kerr.Code() == kafka.ErrTimedOut || kerr.Code() == kafka.ErrTimedOutQueue || kerr.Code() == kafka.ErrTransport || kerr.Code() == kafka.ErrAllBrokersDown
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// Kafka returns the underlying librdkafka admin client.
func (c *Client) Kafka() *kafka.AdminClient { return c.admin }

// Producer returns the producer the admin client is derived from; it is
// not transactional and is meant for tests and small one-off writes.
func (c *Client) Producer() *kafka.Producer { return c.producer }

// Config returns the connection config.
func (c *Client) Config() clientconfig.Config { return c.cfg }

// Close releases the connection.
func (c *Client) Close() {
	c.admin.Close()
	c.producer.Close()
	c.logs.close()
}

// logSink forwards librdkafka logs to slog at debug level and remembers the
// last error-level line, which explains most connection failures.
type logSink struct {
	ch   chan kafka.LogEvent
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	last string
}

func newLogSink(logger *slog.Logger, cfg clientconfig.Config) *logSink {
	s := &logSink{ch: make(chan kafka.LogEvent, 256), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for ev := range s.ch {
			msg := cfg.Scrub(ev.Message)
			if ev.Level <= 4 && !strings.Contains(ev.Tag, "TELEMETRY") {
				s.mu.Lock()
				s.last = msg
				s.mu.Unlock()
			}
			logger.Debug("librdkafka", "client", ev.Name, "tag", ev.Tag, "level", ev.Level, "msg", msg)
		}
	}()
	return s
}

func (s *logSink) lastError() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *logSink) close() {
	s.once.Do(func() { close(s.ch) })
	<-s.done
}
