package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	topicmigrator "github.com/huleedu/topic-migrator"
	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/clientconfig"
	"github.com/huleedu/topic-migrator/demo"
	"github.com/huleedu/topic-migrator/output"
	"github.com/huleedu/topic-migrator/plan"
)

// Settings of the demo's cluster and traffic.
const (
	demoBrokers     = 3
	demoPartitions  = 3
	demoReplication = 3
	demoRetention   = "604800000" // 7 days, as HuleEdu's topics
	demoBacklog     = 40          // records per topic before the walk
	demoGroup       = "essay-lifecycle-service-demo"
	demoBridgeID    = "demo"
	demoDrainWait   = "45s"
	// demoBatchRecords bounds the bridge's transactions (5000 in
	// production), so that the demo's small backlog takes several.
	demoBatchRecords = 15
	// demoWait bounds each wait of the demo's own clients (traffic
	// acknowledgements, the consumer group's reads).
	demoWait = time.Minute
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "walk rename-map.yaml through every step on an embedded Kafka cluster with live HuleEdu traffic",
		Description: "Starts an embedded Kafka cluster (3 kfake brokers, in process: no Kafka installation needed),\n" +
			"creates HuleEdu's 69 topics and writes HuleEdu event envelopes to them, then runs the real commands\n" +
			"on the map: plan, apply, mirror (in the background), cutover consumers (of a demo consumer group),\n" +
			"cutover producers, verify and status, explaining each step. The state file is temporary.\n" +
			"With --keep-running the cluster, traffic and bridge stay up until Ctrl-C, for your own clients.",
		UsageText: "migrator demo\n" +
			"migrator demo --keep-running     # then, in another shell: kcat -b <printed bootstrap> -L\n" +
			"migrator --map my-map.yaml demo   # another map over the same 69 topics",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "keep-running", Usage: "leave the cluster, traffic and bridge up after the walk-through until Ctrl-C; print the bootstrap address and metrics URL"},
		},
		Action: runDemo,
	}
}

// demoHopGroup is the consumer group of the rename the demo runs as a hop.
const demoHopGroup = "email-service-demo"

// demoRun is one run of the demo: the embedded cluster, its traffic, the
// background bridge, and the files every step shares.
type demoRun struct {
	c       *cli.Context
	out     io.Writer
	log     *slog.Logger
	verbose bool
	// errw is the command's stderr, shared by the bridge and the steps.
	errw io.Writer

	dir       string
	mapPath   string
	statePath string
	planPath  string
	m         *plan.RenameMap
	// dual are the renames that keep both names alive; swaps those that
	// replace the old topic (strategy swap); hops the two legs of each
	// rename that moves through an interim name (strategy hop).
	dual, swaps, hops []plan.Rename
	// hopMoves are how long the hops' producers did not write, for the
	// comparison with the swaps' stops.
	hopMoves []time.Duration

	cluster     *demo.Cluster
	cfg         clientconfig.Config
	traffic     *demo.Traffic
	metricsAddr string
	// stopMirror stops the background bridge and returns its error.
	stopMirror func() error
	step       int
}

func runDemo(c *cli.Context) error {
	started := time.Now()
	ctx := c.Context
	errw := &lockedWriter{w: c.App.ErrWriter}
	// The demo's prose is wrapped to the terminal; the commands' tables,
	// printed through the same writer, fit it already.
	out := output.NewLineWrapper(c.App.Writer)
	defer out.Flush()
	d := &demoRun{c: c, out: out, errw: errw, verbose: c.Bool(flagVerbose)}
	// The demo's own logs: warnings only, unless --verbose.
	level := slog.LevelWarn
	if d.verbose {
		level = slog.LevelDebug
	}
	d.log = slog.New(slog.NewTextHandler(errw, &slog.HandlerOptions{Level: level}))
	defer d.close(c.Bool("keep-running"))

	fmt.Fprintln(d.out, "migrator demo: HuleEdu's topic renames, step by step, on an embedded Kafka cluster with live traffic.")
	if err := d.setup(ctx); err != nil {
		return err
	}
	steps := []func(context.Context) error{
		d.planStep, d.applyStep, d.mirrorStep, d.cutoverConsumersStep, d.cutoverProducersStep,
		d.hopStep, d.swapStep, d.verifyStep, d.statusStep, d.historyStep,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	if err := d.traffic.Err(); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "\nDone in %s: %d rename(s) moved to their new topics with consumers and producers cut over (retire deletes the old\n"+
		"topics after the %s window); %d swap rename(s) replaced their old topics in one short stop each; %d hop rename(s)\n"+
		"reached their new names through an interim topic without a stop.\n",
		time.Since(started).Round(100*time.Millisecond), len(d.dual), windowText(d.m.Window), len(d.swaps), len(d.hops)/2)
	if c.Bool("keep-running") {
		return d.keepRunning(ctx)
	}
	return nil
}

// heading starts a step: its title and, in one line, why it is done.
func (d *demoRun) heading(title, why string) {
	d.step++
	fmt.Fprintf(d.out, "\n== %d. %s\n   Why: %s\n\n", d.step, title, why)
}

// setup finds the map, starts the cluster, seeds HuleEdu's topics and
// starts the traffic.
func (d *demoRun) setup(ctx context.Context) error {
	var err error
	if d.dir, err = os.MkdirTemp("", "migrator-demo-"); err != nil {
		return fmt.Errorf("demo: temporary directory: %w", err)
	}
	d.statePath = filepath.Join(d.dir, "migrator.db")
	d.planPath = filepath.Join(d.dir, "plan.json")
	mapNote, err := d.findMap()
	if err != nil {
		return err
	}
	if d.m, err = plan.LoadRenameMap(d.mapPath); err != nil {
		return err
	}
	hopNote, err := d.oneSwapAsHop()
	if err != nil {
		return err
	}
	mapNote += hopNote
	for _, r := range d.m.Renames {
		switch r.Strategy {
		case plan.StrategySwap:
			d.swaps = append(d.swaps, r)
		case plan.StrategyHop:
			d.hops = append(d.hops, r)
		default:
			d.dual = append(d.dual, r)
		}
	}

	d.heading("Setup: an embedded cluster with HuleEdu's topics and live traffic",
		"every command below needs a real Kafka cluster to act on; this one runs inside this process and goes away with it.")
	if d.cluster, err = demo.StartCluster(demoBrokers); err != nil {
		return err
	}
	d.cfg = clientconfig.Config{BootstrapServers: d.cluster.Bootstrap, Timeout: d.c.Duration(flagTimeout)}
	cl, err := admin.Connect(ctx, d.cfg, d.log)
	if err != nil {
		return fmt.Errorf("demo: connect to the embedded cluster: %w", err)
	}
	defer cl.Close()
	topics, err := demo.Seed(ctx, cl, demo.SeedOptions{Partitions: demoPartitions, ReplicationFactor: demoReplication, Configs: map[string]string{"retention.ms": demoRetention}})
	if err != nil {
		return err
	}
	d.traffic, err = demo.NewTraffic(demo.TrafficOptions{Client: d.cfg, Map: d.m, Topics: topics, Seed: uint64(time.Now().UnixNano()), Log: d.log})
	if err != nil {
		return err
	}
	bctx, cancel := context.WithTimeout(ctx, demoWait)
	defer cancel()
	if err := d.traffic.Backlog(bctx, demoBacklog); err != nil {
		return err
	}
	d.traffic.Start()
	fmt.Fprintf(d.out, "   cluster:  %d kfake brokers at %s\n", demoBrokers, d.cluster.Bootstrap)
	fmt.Fprintf(d.out, "   topics:   HuleEdu's %d topics (testdata/huleedu-topics.tsv), %d partitions, replication %d, 7-day retention\n", len(topics), demoPartitions, demoReplication)
	fmt.Fprintf(d.out, "   traffic:  %d HuleEdu event envelopes per topic written, ~40 more per second from now on (event_id, event_type, correlation_id, data.batch_id, ...),\n", demoBacklog)
	fmt.Fprintln(d.out, "             keyed by the map's partition_keys for the topic's domain, with the standard X-* headers")
	fmt.Fprintf(d.out, "   map:      %s (%d renames: %d keep both names, %d swap, %d hop)%s\n", d.mapPath, len(d.dual)+len(d.swaps)+len(d.hops)/2, len(d.dual), len(d.swaps), len(d.hops)/2, mapNote)
	fmt.Fprintf(d.out, "   state:    %s (temporary)\n", d.statePath)
	fmt.Fprintf(d.out, "   Each \"$ migrator ...\" below is the real command, run in this process with -b %s --map %s --state %s.\n", d.cluster.Bootstrap, d.mapPath, d.statePath)
	return nil
}

// findMap picks the map: --map when that file exists, else (when --map
// was not given) the copy built into the binary. It returns a note for
// the setup summary.
func (d *demoRun) findMap() (string, error) {
	path := d.c.Path(flagMap)
	if fileExists(path) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", fmt.Errorf("demo: map %s: %w", path, err)
		}
		d.mapPath = abs
		return "", nil
	}
	if d.c.IsSet(flagMap) {
		return "", fmt.Errorf("demo: rename map %s does not exist", path)
	}
	d.mapPath = filepath.Join(d.dir, "rename-map.yaml")
	if err := os.WriteFile(d.mapPath, topicmigrator.RenameMapYAML, 0o644); err != nil {
		return "", fmt.Errorf("demo: write the built-in map: %w", err)
	}
	return "\n             (no " + path + " here: the copy built into this binary)", nil
}

// oneSwapAsHop makes the demo run one colliding rename as a hop, when the
// map has none: it writes a copy of the map, in the demo's directory,
// whose first `strategy: swap` is `strategy: hop`, and uses that. It
// returns a note for the setup summary.
func (d *demoRun) oneSwapAsHop() (string, error) {
	var first *plan.Rename
	for i, r := range d.m.Renames {
		if r.Strategy == plan.StrategyHop {
			return "", nil
		}
		if r.Strategy == plan.StrategySwap && first == nil {
			first = &d.m.Renames[i]
		}
	}
	if first == nil {
		return "", nil
	}
	lines := strings.Split(string(d.m.Raw), "\n")
	found := false
	for i := first.Pos.Line; i < len(lines) && !found; i++ { // the entry's lines after its first
		if strings.TrimSpace(lines[i]) == "strategy: swap" {
			lines[i] = strings.Replace(lines[i], "swap", "hop", 1)
			found = true
		}
	}
	if !found {
		return "", nil // Written in another style: the demo runs it as a swap.
	}
	path := filepath.Join(d.dir, "rename-map-hop.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		return "", fmt.Errorf("demo: write the map's copy: %w", err)
	}
	m, err := plan.LoadRenameMap(path)
	if err != nil {
		return "", err
	}
	d.m, d.mapPath = m, path
	return fmt.Sprintf("\n             (the demo's copy of it runs %s as `strategy: hop`, to show both ways)", first.From), nil
}

// migrator runs one migrator command in process against the demo's
// cluster, map and state file, showing it as typed; its tables go to the
// demo's output. Its logs are shown with --verbose, else only on failure.
func (d *demoRun) migrator(ctx context.Context, args ...string) error {
	fmt.Fprintf(d.out, "$ migrator %s\n", strings.Join(args, " "))
	return d.runMigrator(ctx, d.out, &tailBuffer{}, nil, args...)
}

// logBuffer keeps a command's logs, to show them when it fails.
type logBuffer interface {
	io.Writer
	String() string
}

// runMigrator runs a command in process with stdout and stderr; on failure
// the error shows the end of its logs. started, when not nil, is closed
// once urfave/cli has set the command up and is about to run its action:
// setting up a command writes urfave/cli's package-level help flag and
// help command, so no other command may start before then.
func (d *demoRun) runMigrator(ctx context.Context, stdout io.Writer, stderr logBuffer, started chan<- struct{}, args ...string) error {
	full := []string{"migrator", "-b", d.cluster.Bootstrap, "--map", d.mapPath, "--state", d.statePath, "-o", "table",
		"--timeout", d.c.Duration(flagTimeout).String(), "--lock-timeout", d.c.Duration(flagLockTimeout).String()}
	var errw io.Writer = stderr
	if d.verbose {
		full = append(full, "--verbose")
		errw = io.MultiWriter(stderr, d.errw)
	}
	app := newApp(stdout, errw)
	if started != nil {
		for _, cmd := range app.Commands {
			if cmd.Name == args[0] {
				before := cmd.Before
				cmd.Before = func(c *cli.Context) error {
					close(started)
					if before != nil {
						return before(c)
					}
					return nil
				}
			}
		}
	}
	err := app.RunContext(ctx, append(full, args...))
	if err == nil {
		return nil
	}
	logs := ""
	if tail := lastLines(stderr.String(), 15); tail != "" && !d.verbose {
		logs = "\nits last log lines:\n" + tail
	}
	return &exitError{code: exitCode(err), err: fmt.Errorf("demo: migrator %s: %w%s", strings.Join(args, " "), err, logs)}
}

func (d *demoRun) planStep(ctx context.Context) error {
	d.heading("plan: what the map would change, and what cannot work",
		"plan diffs the map against the live cluster and changes nothing, so every problem is found before a topic is created.")
	if err := d.migrator(ctx, "plan", "--out", d.planPath); err != nil {
		return err
	}
	p, err := plan.LoadPlan(d.planPath)
	if err != nil {
		return err
	}
	var lines []string
	for _, r := range p.Renames {
		for _, f := range r.Findings {
			if f.Code != "collision" {
				continue
			}
			resolved := "NOT resolved: " + f.Fix
			if f.Severity != plan.Error {
				resolved = "resolved by strategy: " + string(r.Strategy)
			}
			from := r.From
			if r.Hop == 2 {
				from = d.hopOld(r.From)
			}
			lines = append(lines, fmt.Sprintf("     %s  vs  %s  (%s)", from, r.To, resolved))
		}
	}
	if len(lines) == 0 {
		fmt.Fprintln(d.out, "\nNo rename of this map collides with a topic of the cluster.")
		return nil
	}
	fmt.Fprintf(d.out, "\nCollisions the seed missed: Kafka treats '.' and '_' in topic names as the same character, so it refuses to\n"+
		"create these %d new names while the old ones exist; they cannot run side by side:\n%s\n", len(lines), strings.Join(lines, "\n"))
	fmt.Fprintf(d.out, "The map resolves each with `strategy: swap`: apply creates a staging topic (%s<new name>), the bridge fills it,\n"+
		"and `migrator cutover swap` replaces the old topic by the new name in one short stop. The other %d rename(s) collide\n"+
		"with nothing and keep both names alive for the %s window.\n", plan.StagingPrefix, len(d.dual), windowText(d.m.Window))
	for i := 0; i+1 < len(d.hops); i += 2 {
		h := d.hops[i].Hop
		fmt.Fprintf(d.out, "%s uses `strategy: hop` instead: two dual renames through the interim name %s, which collides with\n"+
			"neither (hop 1 %s → interim; once %s is retired, hop 2 interim → %s): no stop, but clients move twice.\n", h.Old, h.Interim, h.Old, h.Old, h.New)
	}
	return nil
}

// hopOld returns the old topic of the hop one of whose legs is from.
func (d *demoRun) hopOld(from string) string {
	for _, r := range d.hops {
		if r.From == from {
			return r.Hop.Old
		}
	}
	return from
}

func (d *demoRun) applyStep(ctx context.Context) error {
	d.heading("apply: create the new topics",
		"each new topic gets the old one's partitions, replication, configs and ACLs, and the state file records phase created; "+
			"a swap gets only its staging topic, as Kafka refuses the new name next to the old. The saved plan makes apply refuse a cluster that changed since.")
	return d.migrator(ctx, "apply", "--plan", d.planPath, "--yes")
}

func (d *demoRun) mirrorStep(ctx context.Context) error {
	d.heading("mirror: copy every old topic to its new one, in the background",
		"while both names live, the bridge copies each old topic into its new (or staging) topic exactly once, in Kafka transactions "+
			"that also commit its position: same partition, order, key, value, headers and timestamp, each copy tagged with X-Migrator-Origin.")
	addr, err := freeLocalAddr()
	if err != nil {
		return err
	}
	d.metricsAddr = addr
	args := []string{"mirror", "--instance-id", demoBridgeID, "--metrics-addr", addr, "--batch-records", strconv.Itoa(demoBatchRecords)}
	fmt.Fprintf(d.out, "$ migrator %s &\n", strings.Join(args, " "))
	fmt.Fprintf(d.out, "   (in this process, stopped at the end; transactions of at most %d records, so that the backlog takes several\n"+
		"   and the copies' offsets visibly differ from the originals': each transaction leaves a marker in the new topic)\n", demoBatchRecords)
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	// The bridge prints nothing but logs; its stdout is not shared.
	started := make(chan struct{})
	go func() { done <- d.runMigrator(mctx, io.Discard, &tailBuffer{}, started, args...) }()
	var once sync.Once
	var mirrorErr error
	d.stopMirror = func() error {
		once.Do(func() {
			cancel()
			select {
			case mirrorErr = <-done:
			case <-time.After(45 * time.Second):
				mirrorErr = errors.New("demo: the bridge did not stop within 45s")
			}
		})
		return mirrorErr
	}
	select {
	case <-started:
	case err := <-done:
		done <- err // For stopMirror.
		return err
	}
	fmt.Fprintf(d.out, "   bridge metrics at http://%s/metrics\n", addr)
	fmt.Fprintln(d.out, "drain waits until the bridge has copied everything the old topic holds now:")
	for _, r := range d.dual {
		if err := d.drain(ctx, done, r.From); err != nil {
			return err
		}
	}
	return nil
}

// drain runs `migrator drain` for a rename; when the bridge has died
// meanwhile, its error is the one reported.
func (d *demoRun) drain(ctx context.Context, mirrorDone chan error, from string) error {
	err := d.migrator(ctx, "drain", "--rename", from, "--timeout", demoDrainWait)
	if err == nil {
		return nil
	}
	select {
	case merr := <-mirrorDone:
		mirrorDone <- merr // For stopMirror.
		return fmt.Errorf("demo: the bridge stopped: %v (%w)", merr, err)
	default:
		return err
	}
}

func (d *demoRun) cutoverConsumersStep(ctx context.Context) error {
	d.heading("cutover consumers: move consumer groups to the new topics",
		"offsets differ between a topic and its copy, so a group's committed offsets are translated exactly: old partition p at offset o "+
			"becomes the offset of the first copy whose X-Migrator-Origin is at least o; the group neither re-reads nor skips a record.")
	if len(d.dual) == 0 {
		fmt.Fprintln(d.out, "The map has no rename that keeps both names: consumers move with the swaps.")
		return nil
	}
	first := d.dual[0]
	wctx, cancel := context.WithTimeout(ctx, demoWait)
	defer cancel()
	committed, processed, err := demo.ConsumePart(wctx, d.cfg, demoGroup, first.From)
	if err != nil {
		return err
	}
	parts := slices.Sorted(maps.Keys(committed))
	var at []string
	for _, p := range parts {
		at = append(at, fmt.Sprintf("partition %d at %d", p, committed[p]))
	}
	fmt.Fprintf(d.out, "Consumer group %s (a service of the demo) processed %d records of %s, the first half of each partition,\n"+
		"committed (%s) and stopped, as a service does before its redeploy.\n", demoGroup, processed, first.From, strings.Join(at, ", "))
	if err := d.migrator(ctx, "cutover", "consumers", "--yes", "--rename", first.From, "--group", demoGroup, "--wait", "30s"); err != nil {
		return err
	}
	for _, r := range d.dual[1:] {
		fmt.Fprintf(d.out, "%s has no consumer group in the demo: cutover finds none left on it and records that.\n", r.From)
		if err := d.migrator(ctx, "cutover", "consumers", "--yes", "--rename", r.From, "--all-groups"); err != nil {
			return err
		}
	}
	// The proof: the group, started on the new topic, reads first the copy
	// of the record after its last commit on the old topic.
	resumed, err := demo.FirstRecords(wctx, d.cfg, demoGroup, first.To, parts)
	if err != nil {
		return err
	}
	for _, p := range parts {
		r := resumed[p]
		want := fmt.Sprintf("%s/%d/%d", first.From, p, committed[p])
		if !r.OK || r.Origin.String() != want {
			return fmt.Errorf("demo: group %s resumed on %s/%d at offset %d with origin %v, want %s", demoGroup, first.To, p, r.Offset, r.Origin, want)
		}
		fmt.Fprintf(d.out, "proof: %s resumes on %s partition %d at offset %d, whose X-Migrator-Origin %s is exactly its committed position on the old topic\n",
			demoGroup, first.To, p, r.Offset, r.Origin)
	}
	return nil
}

func (d *demoRun) cutoverProducersStep(ctx context.Context) error {
	d.heading("cutover producers: switch the writers to the new topics",
		"producers move last: their writes to the old topic stop, the bridge drains what they wrote (so no key is reordered), they restart "+
			"on the new name, and cutover records the old topic's end offsets so that status flags any stray write to it.")
	wctx, cancel := context.WithTimeout(ctx, demoWait)
	defer cancel()
	for _, r := range d.dual {
		if err := d.traffic.Pause(wctx, r.From); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "The demo's producers of %s pause.\n", r.From)
		if err := d.migrator(ctx, "drain", "--rename", r.From, "--timeout", demoDrainWait); err != nil {
			return err
		}
		d.traffic.Redirect(r.From, r.To)
		fmt.Fprintf(d.out, "They restart writing to %s.\n", r.To)
		if err := d.migrator(ctx, "cutover", "producers", "--yes", "--rename", r.From); err != nil {
			return err
		}
	}
	return nil
}

// swapStep cuts the swap renames over: for each, its producers pause
// (as a deploy would stop them), `migrator cutover swap` replaces the old
// topic by the new name in one short stop, and the producers come back
// writing to the new name.
func (d *demoRun) swapStep(ctx context.Context) error {
	if len(d.swaps) == 0 {
		return nil
	}
	d.heading("cutover swap: replace each colliding topic by its exact new name",
		"Kafka refuses the new name while the old topic exists ('.' and '_' collide), so each swap is one short stop: "+
			"writes fenced, staging drained and verified (only past what the verify during the window proved), old topic deleted, new one created with the old configs and ACLs, "+
			"staging copied in, consumer groups committed, verified again.")
	for _, r := range d.swaps {
		// The runbook's step 3: verify staging while producers still
		// write, so that the stop compares only what comes after. Records
		// not copied yet (exit 3) are expected with live producers.
		fmt.Fprintf(d.out, "-- %s: staging verified during the window (producers still writing)\n", r.From)
		if err := d.migrator(ctx, "verify", "--rename", r.From); err != nil {
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitIncomplete {
				return err
			}
		}
		if err := d.traffic.Pause(ctx, r.From); err != nil {
			return err
		}
		started := time.Now()
		fmt.Fprintf(d.out, "-- %s → %s (producers paused)\n", r.From, r.To)
		if err := d.migrator(ctx, "cutover", "swap", "--rename", r.From, "--yes", "--quiet-for", "300ms"); err != nil {
			return err
		}
		d.traffic.Redirect(r.From, r.To)
		fmt.Fprintf(d.out, "   producers resumed on %s after a stop of %s\n\n", r.To, time.Since(started).Round(10*time.Millisecond))
	}
	fmt.Fprintf(d.out, "All %d swaps done: each old name is gone, its records and consumer positions are on the exact new name.\n", len(d.swaps))
	if len(d.hopMoves) > 0 {
		var moves []string
		for _, m := range d.hopMoves {
			moves = append(moves, m.Round(10*time.Millisecond).String())
		}
		fmt.Fprintf(d.out, "Against the hop of the step before: each swap stopped its topic once; the hop stopped nothing, its producers only\n"+
			"paused while the bridge drained (%s), but its clients moved twice.\n", strings.Join(moves, ", "))
	}
	return nil
}

// hopStep takes each hop rename through both of its hops with a consumer
// group and live producers, proving each group move exact, and says what
// the hop cost against the swaps' stops.
func (d *demoRun) hopStep(ctx context.Context) error {
	if len(d.hops) < 2 {
		return nil
	}
	d.heading("hop: a colliding rename without a stop, through an interim name",
		"strategy hop runs two ordinary dual renames, old → interim and, once the old topic is retired, interim → new: "+
			"nobody stops, but consumers and producers move twice (a swap moves them once, in one stop).")
	wctx, cancel := context.WithTimeout(ctx, 2*demoWait)
	defer cancel()
	for i := 0; i+1 < len(d.hops); i += 2 {
		if err := d.hop(ctx, wctx, d.hops[i], d.hops[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// hop takes one hop rename, whose legs are first and second, to its new
// name.
func (d *demoRun) hop(ctx, wctx context.Context, first, second plan.Rename) error {
	h := first.Hop
	committed, processed, err := demo.ConsumePart(wctx, d.cfg, demoHopGroup, h.Old)
	if err != nil {
		return err
	}
	parts := slices.Sorted(maps.Keys(committed))
	var at []string
	for _, p := range parts {
		at = append(at, fmt.Sprintf("partition %d at %d", p, committed[p]))
	}
	fmt.Fprintf(d.out, "Consumer group %s processed %d records of %s, committed (%s) and stopped.\n", demoHopGroup, processed, h.Old, strings.Join(at, ", "))
	// want is, per partition, the origin the group's next record must
	// carry on the leg's new topic: its position on the leg's old one.
	want := map[int32]string{}
	for _, p := range parts {
		want[p] = fmt.Sprintf("%s/%d/%d", h.Old, p, committed[p])
	}
	var consumerMoves, producerMoves []time.Duration
	for n, leg := range []plan.Rename{first, second} {
		fmt.Fprintf(d.out, "-- hop %d of 2: %s → %s\n", n+1, leg.From, leg.To)
		if n == 1 {
			if err := d.migrator(ctx, "apply", "--rename", leg.From, "--yes"); err != nil {
				return err
			}
		}
		if err := d.migrator(ctx, "drain", "--rename", leg.From, "--timeout", demoDrainWait); err != nil {
			return err
		}
		started := time.Now()
		if err := d.migrator(ctx, "cutover", "consumers", "--yes", "--rename", leg.From, "--group", demoHopGroup, "--wait", "30s"); err != nil {
			return err
		}
		consumerMoves = append(consumerMoves, time.Since(started))
		resumed, err := demo.FirstRecords(wctx, d.cfg, demoHopGroup, leg.To, parts)
		if err != nil {
			return err
		}
		for _, p := range parts {
			r := resumed[p]
			if !r.OK || r.Origin.String() != want[p] {
				return fmt.Errorf("demo: group %s resumed on %s/%d at offset %d with origin %v, want %s", demoHopGroup, leg.To, p, r.Offset, r.Origin, want[p])
			}
			fmt.Fprintf(d.out, "proof: %s resumes on %s partition %d at offset %d, whose X-Migrator-Origin %s is exactly its position on %s\n",
				demoHopGroup, leg.To, p, r.Offset, r.Origin, leg.From)
			want[p] = fmt.Sprintf("%s/%d/%d", leg.To, p, r.Offset)
		}
		started = time.Now()
		if err := d.traffic.Pause(wctx, h.Old); err != nil {
			return err
		}
		if err := d.migrator(ctx, "drain", "--rename", leg.From, "--timeout", demoDrainWait); err != nil {
			return err
		}
		d.traffic.Redirect(h.Old, leg.To)
		producerMoves = append(producerMoves, time.Since(started))
		fmt.Fprintf(d.out, "The producers of %s paused, the bridge drained, and they write to %s now (%s without writing; nothing else stopped).\n",
			h.Old, leg.To, producerMoves[n].Round(10*time.Millisecond))
		for _, args := range [][]string{
			{"cutover", "producers", "--yes", "--rename", leg.From},
			{"verify", "--rename", leg.From},
			{"retire", "--rename", leg.From, "--force", "--reason", "demo: no " + windowText(d.m.WindowOf(leg)) + " wait", "--yes"},
		} {
			if err := d.migrator(ctx, args...); err != nil {
				return err
			}
		}
	}
	d.hopMoves = append(d.hopMoves, producerMoves...)
	fmt.Fprintf(d.out, "\n%s is %s now, with no stop: the hop cost two client moves (consumers: %s and %s; producers: %s and %s\n"+
		"without writing, each a redeploy with the next name) and a second copy of the topic; a swap (next step) costs one client\n"+
		"move and one stop, during which the topic's producers and consumers wait.\n",
		h.Old, h.New, consumerMoves[0].Round(10*time.Millisecond), consumerMoves[1].Round(10*time.Millisecond),
		producerMoves[0].Round(10*time.Millisecond), producerMoves[1].Round(10*time.Millisecond))
	return nil
}

func (d *demoRun) verifyStep(ctx context.Context) error {
	d.heading("verify: prove each copy record by record",
		"before anyone relies on a new topic, verify compares both topics per partition (key, value, headers minus the bridge's, timestamp), "+
			"counting what the bridge has not copied yet and the records written to the new topic directly; any difference fails it.")
	// Only renames whose old topic no longer receives writes: verify
	// compares each partition up to the end it saw when it began, and a
	// topic still written to and copied meanwhile can hold a copy of a
	// record past that end, which verify today reports as a divergence.
	args := []string{"verify"}
	for _, r := range d.dual {
		args = append(args, "--rename", r.From)
	}
	if err := d.migrator(ctx, args...); err != nil {
		return err
	}
	fmt.Fprintln(d.out, "verify passed: every new topic holds identical copies of its old topic's records, followed by the records\n"+
		"producers wrote to it directly since they moved.")
	return nil
}

func (d *demoRun) statusStep(ctx context.Context) error {
	d.heading("status: where every rename stands",
		"the operator's one view during the window: phase from the state file, days left, bridge lag, DLQ, consumer groups on each topic, ACL parity, stray writes.")
	return d.migrator(ctx, "status")
}

func (d *demoRun) historyStep(ctx context.Context) error {
	if len(d.dual) == 0 {
		return nil
	}
	d.heading("history: the whole audit trail",
		"every step, phase change and refusal is in the audit log with who ran which command and when; `migrator history` reads it "+
			"(--rename R for one rename, --since T for the recent part; on --state-backend cluster, from the cluster; -o wide adds each entry's detail and command).")
	return d.migrator(ctx, "history", "-o", "wide")
}

// keepRunning leaves everything up until the command's context ends
// (Ctrl-C).
func (d *demoRun) keepRunning(ctx context.Context) error {
	first := strings.Split(d.cluster.Bootstrap, ",")[0]
	fmt.Fprintf(d.out, "\nThe cluster, the traffic and the bridge keep running until Ctrl-C.\n")
	fmt.Fprintf(d.out, "bootstrap: %s\n", d.cluster.Bootstrap)
	fmt.Fprintf(d.out, "metrics:   http://%s/metrics\n", d.metricsAddr)
	fmt.Fprintf(d.out, "state:     %s\n", d.statePath)
	fmt.Fprintf(d.out, "Try:\n  migrator -b %s --map %s --state %s status\n  migrator --state %s history\n  kcat -b %s -L\n  curl -s http://%s/metrics | grep migrator_bridge_records_total\n",
		first, d.mapPath, d.statePath, d.statePath, first, d.metricsAddr)
	<-ctx.Done()
	fmt.Fprintln(d.out, "\nStopping.")
	return nil
}

// close stops the bridge, the traffic and the cluster, and removes the
// temporary files unless they are to be kept.
func (d *demoRun) close(keepFiles bool) {
	if d.stopMirror != nil {
		if err := d.stopMirror(); err != nil {
			d.log.Warn("demo: the bridge stopped with an error", "err", err)
		}
	}
	if d.traffic != nil {
		if err := d.traffic.Close(); err != nil {
			d.log.Warn("demo: traffic", "err", err)
		}
	}
	if d.cluster != nil {
		d.cluster.Close()
	}
	if d.dir == "" {
		return
	}
	if keepFiles {
		fmt.Fprintf(d.out, "The state file and plan are kept in %s.\n", d.dir)
		return
	}
	if err := os.RemoveAll(d.dir); err != nil {
		d.log.Warn("demo: remove temporary files", "dir", d.dir, "err", err)
	}
}

// windowText says how long a window is: "30-day", or the duration.
func windowText(w time.Duration) string {
	if w%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d-day", w/(24*time.Hour))
	}
	return w.String()
}

// freeLocalAddr returns a localhost address with a port free right now.
func freeLocalAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("demo: find a free port for metrics: %w", err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// lockedWriter serializes writes of several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tailBuffer keeps the last 64 KiB or so written to it, for goroutines
// that write while another may read (a bridge running for hours logs
// more than anyone needs to see when it fails).
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const tailBufferMax = 64 << 10

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len()+len(p) > 2*tailBufferMax {
		keep := b.buf.Bytes()[max(b.buf.Len()-tailBufferMax, 0):]
		b.buf = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	return b.buf.Write(p)
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
