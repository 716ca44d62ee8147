package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

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

// manifestDocs splits a YAML file into its documents' bytes, as kubectl
// reads them.
func manifestDocs(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(d, "")) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// podMonitor is the part of the Prometheus Operator's PodMonitor
// (monitoring.coreos.com/v1) that deploy/ uses; its CRD is not in k8s.io/api.
type podMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel            string               `json:"jobLabel"`
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// kubeObjects decodes every Kubernetes manifest under deploy/ strictly into
// its API type (k8s.io/api), as the API server's schema would: an unknown
// or misspelt field, a value of the wrong type or an unknown kind fails.
// It works offline: the schemas are the Go types.
func kubeObjects(t *testing.T) []any {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(deployDir, "kubernetes", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, filepath.Join(deployDir, "prometheus", "podmonitor.yaml"))
	var objs []any
	for _, path := range paths {
		for i, doc := range manifestDocs(t, path) {
			var tm metav1.TypeMeta
			if err := sigsyaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s document %d: %v", path, i+1, err)
			}
			var obj any
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				obj = &appsv1.Deployment{}
			case "policy/v1 PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			case "v1 Secret":
				obj = &corev1.Secret{}
			case "v1 ConfigMap":
				obj = &corev1.ConfigMap{}
			case "monitoring.coreos.com/v1 PodMonitor":
				obj = &podMonitor{}
			default:
				t.Errorf("%s document %d: no schema for %s %s", path, i+1, tm.APIVersion, tm.Kind)
				continue
			}
			// As the API server decodes: field names case-sensitive, unknown
			// and duplicate fields refused.
			js, err := sigsyaml.YAMLToJSONStrict(doc)
			if err != nil {
				t.Errorf("%s document %d (%s): %v", path, i+1, tm.Kind, err)
				continue
			}
			strict, err := sigsjson.UnmarshalStrict(js, obj)
			if err = errors.Join(append(strict, err)...); err != nil {
				t.Errorf("%s document %d (%s): %v", path, i+1, tm.Kind, err)
				continue
			}
			objs = append(objs, obj)
		}
	}
	return objs
}

// TestKubernetesManifestsMatchSchema checks the manifests against the API
// types and what the API server would also refuse: required fields, a
// selector that does not select the pod template, mounts and probes that
// name nothing.
func TestKubernetesManifestsMatchSchema(t *testing.T) {
	var deployments []*appsv1.Deployment
	var pdbs []*policyv1.PodDisruptionBudget
	var monitors []*podMonitor
	for _, o := range kubeObjects(t) {
		switch o := o.(type) {
		case *appsv1.Deployment:
			deployments = append(deployments, o)
		case *policyv1.PodDisruptionBudget:
			pdbs = append(pdbs, o)
		case *podMonitor:
			monitors = append(monitors, o)
		}
	}
	if len(deployments) != 1 || len(pdbs) != 1 || len(monitors) != 1 {
		t.Fatalf("%d deployments, %d disruption budgets, %d pod monitors; want one each", len(deployments), len(pdbs), len(monitors))
	}
	d := deployments[0]
	podLabels := labels.Set(d.Spec.Template.Labels)
	selects := func(what string, s *metav1.LabelSelector) {
		sel, err := metav1.LabelSelectorAsSelector(s)
		if err != nil || sel.Empty() || !sel.Matches(podLabels) {
			t.Errorf("%s selector %v does not select the bridge pods %v (%v)", what, s, podLabels, err)
		}
	}
	selects("Deployment", d.Spec.Selector)
	selects("PodDisruptionBudget", pdbs[0].Spec.Selector)
	selects("PodMonitor", &monitors[0].Spec.Selector)
	pod := d.Spec.Template.Spec
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
		for _, mode := range []*int32{secretMode(v), configMapMode(v)} {
			if mode != nil && (*mode < 0 || *mode > 0o777) {
				t.Errorf("volume %s: mode %o is not a file mode", v.Name, *mode)
			}
		}
	}
	ports := map[string]bool{}
	for _, c := range pod.Containers {
		if c.Name == "" || c.Image == "" {
			t.Errorf("container %q has no name or image", c.Name)
		}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort > 0 && p.ContainerPort < 65536
		}
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				t.Errorf("container %s mounts volume %s, which the pod does not have", c.Name, m.Name)
			}
		}
		for what, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil || !ports[p.HTTPGet.Port.String()] {
				t.Errorf("container %s: %s probe does not name a container port", c.Name, what)
			}
		}
	}
	for _, e := range monitors[0].Spec.PodMetricsEndpoints {
		if !ports[e.Port] {
			t.Errorf("PodMonitor scrapes port %q, which the bridge container does not name", e.Port)
		}
	}
}

func secretMode(v corev1.Volume) *int32 {
	if v.Secret != nil {
		return v.Secret.DefaultMode
	}
	return nil
}

func configMapMode(v corev1.Volume) *int32 {
	if v.ConfigMap != nil {
		return v.ConfigMap.DefaultMode
	}
	return nil
}

// unreadableMounts returns the mounted files of the pod's containers that
// the container's user cannot read. Secret and ConfigMap files are the
// kubelet's: owner root, mode defaultMode (0644 when unset); with an
// fsGroup their group is the fsGroup and, being read-only volumes, they get
// its read bit (kubelet's SetVolumeOwnership).
func unreadableMounts(pod corev1.PodSpec) []string {
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	var out []string
	for _, c := range pod.Containers {
		uid, gid := int64(0), int64(0)
		var groups []int64
		if sc := pod.SecurityContext; sc != nil {
			if sc.RunAsUser != nil {
				uid = *sc.RunAsUser
			}
			if sc.RunAsGroup != nil {
				gid = *sc.RunAsGroup
			}
			groups = append(groups, sc.SupplementalGroups...)
			if sc.FSGroup != nil {
				groups = append(groups, *sc.FSGroup)
			}
		}
		if sc := c.SecurityContext; sc != nil {
			if sc.RunAsUser != nil {
				uid = *sc.RunAsUser
			}
			if sc.RunAsGroup != nil {
				gid = *sc.RunAsGroup
			}
		}
		groups = append(groups, gid)
		for _, m := range c.VolumeMounts {
			v := volumes[m.Name]
			mode := int32(0o644)
			if p := secretMode(v); p != nil {
				mode = *p
			}
			if p := configMapMode(v); p != nil {
				mode = *p
			}
			fileGroup := int64(0)
			if sc := pod.SecurityContext; sc != nil && sc.FSGroup != nil {
				fileGroup = *sc.FSGroup
				mode |= 0o440
			}
			readable := uid == 0 && mode&0o400 != 0 ||
				slices.Contains(groups, fileGroup) && mode&0o040 != 0 ||
				mode&0o004 != 0
			if !readable {
				out = append(out, fmt.Sprintf("%s: %s (volume %s, mode %04o, owner 0:%d; user %d, groups %v)", c.Name, m.MountPath, m.Name, mode, fileGroup, uid, groups))
			}
		}
	}
	return out
}

// TestKubernetesPodCanReadItsFiles: the bridge runs as 65532 and must read
// its rename map and its client Secret; the Secret's files are root's.
func TestKubernetesPodCanReadItsFiles(t *testing.T) {
	var d *appsv1.Deployment
	for _, o := range kubeObjects(t) {
		if dep, ok := o.(*appsv1.Deployment); ok {
			d = dep
		}
	}
	if d == nil {
		t.Fatal("no Deployment")
	}
	pod := d.Spec.Template.Spec
	if sc := pod.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser == 0 || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Fatal("the bridge pod does not run as a non-root user")
	}
	if bad := unreadableMounts(pod); len(bad) > 0 {
		t.Errorf("the bridge cannot read its mounted files:\n%s", strings.Join(bad, "\n"))
	}
	// The check itself: without fsGroup a 0440 Secret is root's alone.
	noGroup := *pod.DeepCopy()
	noGroup.SecurityContext.FSGroup = nil
	if bad := unreadableMounts(noGroup); len(bad) == 0 {
		t.Error("without fsGroup the Secret (0440, root) is still found readable: the check checks nothing")
	}
}

// dockerignored reports whether .dockerignore's patterns leave path out of
// the build context (the last matching pattern decides; "!" lets it in).
func dockerignored(patterns []string, path string) bool {
	ignored := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		match, _ := filepath.Match(p, path)
		for dir := filepath.Dir(path); !match && dir != "."; dir = filepath.Dir(dir) {
			match, _ = filepath.Match(p, dir)
		}
		if match {
			ignored = !neg
		}
	}
	return ignored
}

// TestDockerBuild: the image takes the release binary of its target
// platform, runs as the user the pod runs as, and its build context holds
// the binary and nothing secret.
func TestDockerBuild(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir, "docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	for _, want := range []string{"ARG TARGETARCH", "COPY dist/migrator-linux-${TARGETARCH} ", "USER 65532:65532"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^RELEASE\s*:= dist/migrator-linux-amd64$`).Match(mk) {
		t.Error("make release no longer builds dist/migrator-linux-amd64, the file the Dockerfile copies for linux/amd64")
	}
	raw, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, filepath.Clean(l))
		}
	}
	for _, p := range []string{".git/config", ".kafka/server.properties", ".kafka-secure/secure/client.key", ".kafka-secure/ca.pem",
		"bin/migrator", "migrator.db", "migrator.db.lock", ".mm2/x", "client.properties", "dist/migrator-linux-amd64.sha256"} {
		if !dockerignored(patterns, p) {
			t.Errorf(".dockerignore sends %s into the build context", p)
		}
	}
	for _, p := range []string{"dist/migrator-linux-amd64", "dist/migrator-linux-arm64"} {
		if dockerignored(patterns, p) {
			t.Errorf(".dockerignore leaves out %s, which the Dockerfile copies", p)
		}
	}
}
