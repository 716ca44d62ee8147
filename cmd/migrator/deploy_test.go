package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/huleedu/topic-migrator/bridge"
)

// The files under deploy/ name the bridge's metrics and the mirror command's
// flags; these tests make them fail to build instead of silently drifting.

const deployDir = "../../deploy"

// metricRecorder is a prometheus.Registerer that records the names of the
// metrics registered with it instead of serving them.
type metricRecorder struct {
	names      map[string]bool
	histograms map[string]bool
}

var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *metricRecorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	_, histogram := c.(prometheus.Histogram)
	if _, ok := c.(*prometheus.HistogramVec); ok {
		histogram = true
	}
	for d := range ch {
		m := fqNameRE.FindStringSubmatch(d.String())
		if m == nil {
			return errors.New("cannot read the name of " + d.String())
		}
		r.names[m[1]] = true
		if histogram {
			r.histograms[m[1]] = true
		}
	}
	return nil
}

func (r *metricRecorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *metricRecorder) Unregister(prometheus.Collector) bool { return false }

// servedMetrics returns the names of the metrics `migrator mirror` serves:
// the bridge's and the Go and process collectors' (as mirror.go registers
// them), and which of them are histograms.
func servedMetrics(t *testing.T) *metricRecorder {
	t.Helper()
	r := &metricRecorder{names: map[string]bool{}, histograms: map[string]bool{}}
	bridge.NewMetrics(r)
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, want := range []string{"migrator_bridge_records_total", "migrator_bridge_transaction_seconds", "migrator_rename_window_end_timestamp_seconds"} {
		if !r.names[want] {
			t.Fatalf("the recorder did not see %s among %v", want, r.names)
		}
	}
	return r
}

// metricRefRE finds metric names in PromQL: every name the files use starts
// with one of these prefixes (label names and Grafana variables do not).
var metricRefRE = regexp.MustCompile(`\b(?:migrator|process|go)_[A-Za-z0-9_:]+`)

// checkMetricRefs reports every metric expr names that the bridge does not
// serve, and returns how many names it checked.
func checkMetricRefs(t *testing.T, served *metricRecorder, where, expr string) int {
	t.Helper()
	refs := metricRefRE.FindAllString(expr, -1)
	for _, name := range refs {
		if served.names[name] {
			continue
		}
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if base != name && served.histograms[base] {
			continue
		}
		t.Errorf("%s: metric %s is not served by migrator mirror (bridge/metrics.go)", where, name)
	}
	return len(refs)
}

// alertRules is the Prometheus rule file format, as far as checked here.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestAlertRulesUseServedMetrics(t *testing.T) {
	served := servedMetrics(t)
	data, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	var alerts []string
	refs := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			where := "alerts.yaml " + r.Alert
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: a rule without alert name or expr", where)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", where, r.For, err)
				}
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: needs a severity label and a summary", where)
			}
			if rb := r.Annotations["runbook"]; rb == "" {
				t.Errorf("%s: no runbook annotation", where)
			} else if _, err := os.Stat(filepath.Join("../..", rb)); err != nil {
				t.Errorf("%s: runbook %s: %v", where, rb, err)
			}
			refs += checkMetricRefs(t, served, where, r.Expr)
			alerts = append(alerts, r.Alert)
		}
	}
	for _, want := range []string{"MigratorBridgeDown", "MigratorBridgeAbsent", "MigratorBridgeLagRecords", "MigratorBridgeLagSeconds",
		"MigratorBridgeDeadLetters", "MigratorBridgeTransactionsAborting", "MigratorRenameWindowEnding"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alerts.yaml has no rule %s (has %v)", want, alerts)
		}
	}
	if refs < len(alerts) {
		t.Errorf("only %d metric references in %d rules: is the name pattern still right?", refs, len(alerts))
	}
}

func TestDashboardUsesServedMetrics(t *testing.T) {
	served := servedMetrics(t)
	data, err := os.ReadFile(filepath.Join(deployDir, "grafana", "bridge-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID           string `json:"uid"`
		Title         string `json:"title"`
		SchemaVersion int    `json:"schemaVersion"`
		Panels        []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			GridPos *struct {
				W int `json:"w"`
				H int `json:"h"`
			} `json:"gridPos"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("bridge-dashboard.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" || dash.SchemaVersion == 0 || len(dash.Panels) == 0 {
		t.Fatalf("bridge-dashboard.json lacks uid, title, schemaVersion or panels")
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		where := "dashboard panel " + strconv.Quote(p.Title)
		if ids[p.ID] {
			t.Errorf("%s: id %d used twice", where, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("%s: no gridPos", where)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		for _, q := range p.Targets {
			if q.RefID == "" || q.Expr == "" {
				t.Errorf("%s: a target without refId or expr", where)
			}
			checkMetricRefs(t, served, where, q.Expr)
			for _, name := range metricRefRE.FindAllString(q.Expr, -1) {
				used[strings.TrimSuffix(name, "_bucket")] = true
			}
		}
	}
	for _, v := range dash.Templating.List {
		checkMetricRefs(t, served, "dashboard variable "+v.Name, v.Definition)
	}
	// The dashboard shows every bridge metric.
	for name := range served.names {
		if strings.HasPrefix(name, "migrator_") && !used[name] {
			t.Errorf("the dashboard shows no panel of %s", name)
		}
	}
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

func TestDeployYAMLParses(t *testing.T) {
	var files []string
	for _, dir := range []string{"kubernetes", "prometheus"} {
		matches, err := filepath.Glob(filepath.Join(deployDir, dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, matches...)
	}
	if len(files) < 4 {
		t.Fatalf("only %d YAML files under deploy/: %v", len(files), files)
	}
	for _, path := range files {
		docs := yamlDocs(t, path)
		if len(docs) == 0 {
			t.Errorf("%s: no YAML document", path)
		}
		if filepath.Base(path) == "alerts.yaml" {
			continue // a rule file, not a Kubernetes object
		}
		for i, d := range docs {
			meta, _ := d["metadata"].(map[string]any)
			if d["apiVersion"] == nil || d["kind"] == nil || meta["name"] == nil {
				t.Errorf("%s document %d: not a Kubernetes object (apiVersion, kind, metadata.name)", path, i+1)
			}
		}
	}
}

// flagNames returns every name and alias of flags.
func flagNames(flags []cli.Flag) map[string]bool {
	names := map[string]bool{}
	for _, f := range flags {
		for _, n := range f.Names() {
			names[n] = true
		}
	}
	return names
}

// checkMirrorArgs checks command-line words of `migrator ... mirror ...`:
// every flag before "mirror" is a global flag, every flag after it a mirror
// flag. It returns the flags' values by name.
func checkMirrorArgs(t *testing.T, where string, words []string) map[string]string {
	t.Helper()
	app := newApp(io.Discard, io.Discard)
	global := flagNames(app.Flags)
	var mirror map[string]bool
	for _, c := range app.Commands {
		if c.Name == "mirror" {
			mirror = flagNames(c.Flags)
		}
	}
	values := map[string]string{}
	known := global
	sawMirror := false
	for i, w := range words {
		if w == "mirror" {
			known, sawMirror = mirror, true
			continue
		}
		if !strings.HasPrefix(w, "--") {
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(w, "--"), "=")
		if !hasValue && i+1 < len(words) && !strings.HasPrefix(words[i+1], "--") {
			value = words[i+1]
		}
		if !known[name] {
			t.Errorf("%s: flag --%s does not exist there (migrator --help, migrator mirror --help)", where, name)
		}
		values[name] = value
	}
	if !sawMirror {
		t.Errorf("%s: does not run `migrator mirror`", where)
	}
	return values
}

func TestKubernetesDeploymentMatchesMirrorFlags(t *testing.T) {
	var deployment map[string]any
	for _, d := range yamlDocs(t, filepath.Join(deployDir, "kubernetes", "deployment.yaml")) {
		if d["kind"] == "Deployment" {
			deployment = d
		}
	}
	if deployment == nil {
		t.Fatal("deployment.yaml holds no Deployment")
	}
	// Decode the parts checked into types.
	raw, err := yaml.Marshal(deployment)
	if err != nil {
		t.Fatal(err)
	}
	var dep struct {
		Spec struct {
			Replicas int `yaml:"replicas"`
			Template struct {
				Spec struct {
					TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
					Containers                    []struct {
						Args []string `yaml:"args"`
						Env  []struct {
							Name      string `yaml:"name"`
							Value     string `yaml:"value"`
							ValueFrom struct {
								FieldRef struct {
									FieldPath string `yaml:"fieldPath"`
								} `yaml:"fieldRef"`
							} `yaml:"valueFrom"`
						} `yaml:"env"`
						Ports []struct {
							Name          string `yaml:"name"`
							ContainerPort int    `yaml:"containerPort"`
						} `yaml:"ports"`
						LivenessProbe struct {
							HTTPGet struct{ Path string } `yaml:"httpGet"`
						} `yaml:"livenessProbe"`
						ReadinessProbe struct {
							HTTPGet struct{ Path string } `yaml:"httpGet"`
						} `yaml:"readinessProbe"`
						Resources struct {
							Limits map[string]string `yaml:"limits"`
						} `yaml:"resources"`
						VolumeMounts []struct {
							Name      string `yaml:"name"`
							MountPath string `yaml:"mountPath"`
							ReadOnly  bool   `yaml:"readOnly"`
						} `yaml:"volumeMounts"`
					} `yaml:"containers"`
					Volumes []map[string]any `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(raw, &dep); err != nil {
		t.Fatal(err)
	}
	if dep.Spec.Replicas < 2 {
		t.Errorf("replicas = %d, want several sharing the group", dep.Spec.Replicas)
	}
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	flags := checkMirrorArgs(t, "deployment.yaml", c.Args)
	shutdown, err := time.ParseDuration(flags["shutdown-timeout"])
	if err != nil {
		t.Fatalf("deployment.yaml: --shutdown-timeout: %v", err)
	}
	if grace := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second; grace <= shutdown {
		t.Errorf("terminationGracePeriodSeconds %v is not longer than --shutdown-timeout %v", grace, shutdown)
	}
	if flags["instance-id"] != "$(POD_NAME)" {
		t.Errorf("--instance-id = %q, want $(POD_NAME)", flags["instance-id"])
	}
	podName := false
	for _, e := range c.Env {
		podName = podName || (e.Name == "POD_NAME" && e.ValueFrom.FieldRef.FieldPath == "metadata.name")
	}
	if !podName {
		t.Error("POD_NAME does not come from metadata.name (downward API)")
	}
	if flags["log-format"] != "json" {
		t.Errorf("--log-format = %q, want json", flags["log-format"])
	}
	_, port, _ := strings.Cut(flags["metrics-addr"], ":")
	if len(c.Ports) == 0 || strconv.Itoa(c.Ports[0].ContainerPort) != port {
		t.Errorf("container port %v does not match --metrics-addr %q", c.Ports, flags["metrics-addr"])
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes on %q and %q, want /healthz and /readyz", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	if c.Resources.Limits["memory"] == "" {
		t.Error("no memory limit")
	}

	// The state lives in the cluster: --state-backend cluster from the
	// environment (variables the app reads), no --no-state, and the state
	// file (a cache) in a volume of the pod's own that it may write, an
	// emptyDir: no shared volume.
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["MIGRATOR_STATE_BACKEND"] != backendCluster {
		t.Errorf("MIGRATOR_STATE_BACKEND = %q, want %s", env["MIGRATOR_STATE_BACKEND"], backendCluster)
	}
	appEnv := map[string]bool{}
	for _, f := range newApp(io.Discard, io.Discard).Flags {
		if ef, ok := f.(interface{ GetEnvVars() []string }); ok {
			for _, v := range ef.GetEnvVars() {
				appEnv[v] = true
			}
		}
	}
	for name := range env {
		if strings.HasPrefix(name, "MIGRATOR_") && !appEnv[name] {
			t.Errorf("env %s: no flag of migrator reads it", name)
		}
	}
	if _, ok := flags["no-state"]; ok {
		t.Error("the bridge runs --no-state: it cannot record its progress")
	}
	cache := env["MIGRATOR_STATE"]
	if cache == "" {
		t.Fatal("MIGRATOR_STATE is not set: the cache would go to the read-only working directory")
	}
	mounted := ""
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(cache, strings.TrimSuffix(m.MountPath, "/")+"/") {
			mounted = m.Name
			if m.ReadOnly {
				t.Errorf("the state cache %s is on the read-only mount %s", cache, m.MountPath)
			}
		}
	}
	if mounted == "" {
		t.Fatalf("the state cache %s is on no mounted volume (the root filesystem is read-only)", cache)
	}
	for _, v := range pod.Volumes {
		if v["name"] != mounted {
			continue
		}
		if _, ok := v["emptyDir"]; !ok {
			t.Errorf("volume %s of the state cache is %v, want an emptyDir of the pod's own", mounted, v)
		}
	}
}

func TestSystemdUnitMatchesMirrorFlags(t *testing.T) {
	f, err := os.Open(filepath.Join(deployDir, "systemd", "migrator-mirror.service"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Join continuation lines, drop comments.
	settings := map[string]string{}
	var line strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if line.Len() == 0 && (l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[")) {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			line.WriteString(strings.TrimSuffix(l, `\`) + " ")
			continue
		}
		line.WriteString(l)
		k, v, _ := strings.Cut(line.String(), "=")
		if _, dup := settings[k]; !dup {
			settings[k] = v
		}
		line.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	words := strings.Fields(settings["ExecStart"])
	if len(words) == 0 || filepath.Base(words[0]) != "migrator" {
		t.Fatalf("ExecStart = %q, want migrator ... mirror ...", settings["ExecStart"])
	}
	flags := checkMirrorArgs(t, "migrator-mirror.service", words[1:])
	shutdown, err := time.ParseDuration(flags["shutdown-timeout"])
	if err != nil {
		t.Fatalf("--shutdown-timeout: %v", err)
	}
	stop, err := time.ParseDuration(settings["TimeoutStopSec"])
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if stop <= shutdown {
		t.Errorf("TimeoutStopSec %v is not longer than --shutdown-timeout %v", stop, shutdown)
	}
	if flags["log-format"] != "json" || flags["metrics-addr"] == "" {
		t.Errorf("ExecStart lacks --log-format json or --metrics-addr: %q", settings["ExecStart"])
	}
	for _, k := range []string{"Restart", "ProtectSystem", "NoNewPrivileges", "User"} {
		if settings[k] == "" {
			t.Errorf("the unit does not set %s", k)
		}
	}
}
