package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// alertRules is the part of a Prometheus rules file the tests read.
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

// readAlerts returns the shipped alert rules.
func readAlerts(t *testing.T) alertRules {
	t.Helper()
	var rules alertRules
	dec := yaml.NewDecoder(strings.NewReader(readOps(t, "alerts.yml")))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	return rules
}

// TestAlertRulesPromtool: Prometheus's own check reads the rules.
func TestAlertRulesPromtool(t *testing.T) {
	promtool := opsTool(t, "promtool", "prometheus")
	out, err := exec.Command(promtool, "check", "rules", opsDir+"/alerts.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules alerts.yml: %v\n%s", err, out)
	}
}

// TestAlertRules: each alert has a name of its own, a severity an
// on-call rota routes on, and a summary and description for whoever it
// wakes.
func TestAlertRules(t *testing.T) {
	rules := readAlerts(t)
	seen := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || seen[r.Alert] {
				t.Errorf("an alert named %q (empty, or twice): %s", r.Alert, r.Expr)
			}
			seen[r.Alert] = true
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: want a summary and a description", r.Alert)
			}
		}
	}
	if len(seen) < 10 {
		t.Errorf("alerts.yml has %d alerts: the test no longer reads it", len(seen))
	}
}

// grafanaPanel is the part of a Grafana panel the tests read.
type grafanaPanel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *grafanaSource           `json:"datasource"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		Expr       string         `json:"expr"`
		RefID      string         `json:"refId"`
		Datasource *grafanaSource `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // of a collapsed row
}

type grafanaSource struct{ Type, UID string }

// grafanaDashboard is the part of a Grafana dashboard the tests read.
type grafanaDashboard struct {
	Title         string         `json:"title"`
	UID           string         `json:"uid"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *grafanaSource  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

// readDashboard returns the shipped dashboard, its panels (those of
// collapsed rows too) and the expressions it queries: its panels' and
// its variables'.
func readDashboard(t *testing.T) (grafanaDashboard, []grafanaPanel, []string) {
	t.Helper()
	var d grafanaDashboard
	if err := json.Unmarshal([]byte(readOps(t, "dashboard.json")), &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	var panels []grafanaPanel
	for _, p := range d.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	var exprs []string
	for _, p := range panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*[A-Za-z_][A-Za-z0-9_]*\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Fatalf("dashboard.json: variable %s: a query of neither form: %s", v.Name, v.Query)
			}
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("dashboard.json: variable %s: %q is not label_values(<series>, <label>)", v.Name, q.Query)
		}
		exprs = append(exprs, m[1])
	}
	return d, panels, exprs
}

// TestDashboard: the dashboard is one Grafana imports: a title and a
// UID, a variable for the Prometheus it asks for at import, which every
// query uses, panels with IDs of their own laid out side by side on
// Grafana's 24 columns without overlapping, and queries that use only
// its variables and Grafana's own.
func TestDashboard(t *testing.T) {
	d, panels, _ := readDashboard(t)
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 36 {
		t.Errorf("title %q, uid %q, schemaVersion %d: want a title, a UID and a schema of Grafana 9 or later", d.Title, d.UID, d.SchemaVersion)
	}
	vars := map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type == "datasource" && string(v.Query) != `"prometheus"` {
			t.Errorf("variable %s chooses among %s, want prometheus", v.Name, v.Query)
		}
	}
	source := func(where string, s *grafanaSource) {
		if s == nil || s.Type != "prometheus" || s.UID != "${datasource}" {
			t.Errorf("%s: data source %+v, want the dashboard's variable ${datasource}", where, s)
		}
	}
	ids := map[int]bool{}
	type box struct {
		title      string
		x, y, w, h int
	}
	var boxes []box
	variable := regexp.MustCompile(`\$(?:\{(\w+)\}|(\w+))`)
	for _, p := range panels {
		if p.ID <= 0 || ids[p.ID] {
			t.Errorf("panel %q: id %d (none, or taken)", p.Title, p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v is not within Grafana's 24 columns", p.Title, g)
		}
		for _, b := range boxes {
			if g.X < b.x+b.w && b.x < g.X+g.W && g.Y < b.y+b.h && b.y < g.Y+g.H {
				t.Errorf("panels %q and %q overlap", p.Title, b.title)
			}
		}
		boxes = append(boxes, box{p.Title, g.X, g.Y, g.W, g.H})
		if p.Type == "row" {
			continue
		}
		if !slices.Contains([]string{"timeseries", "stat"}, p.Type) {
			t.Errorf("panel %q: type %q", p.Title, p.Type)
		}
		source("panel "+p.Title, p.Datasource)
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			source("panel "+p.Title+" query "+tg.RefID, tg.Datasource)
			if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: query %q with refId %q (none, or taken)", p.Title, tg.Expr, tg.RefID)
			}
			refs[tg.RefID] = true
			for _, m := range variable.FindAllStringSubmatch(tg.Expr, -1) {
				if name := m[1] + m[2]; !vars[name] {
					t.Errorf("panel %q uses $%s, which is not a variable of the dashboard's", p.Title, name)
				}
			}
		}
	}
	if len(panels) < 10 {
		t.Errorf("dashboard.json has %d panels: the test no longer reads it", len(panels))
	}
}

// promOwn are series Prometheus makes itself for each target.
var promOwn = []string{"up"}

// exposition is what a node's /metrics holds: each series name, with
// the label sets it has. A histogram's family is its _bucket (with le),
// _sum and _count series, a summary's its own (with quantile), _sum and
// _count: the names PromQL reads.
type exposition map[string][]map[string]string

// scrape reads base's /metrics.
func scrape(t *testing.T, base string) exposition {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	series := exposition{}
	add := func(name string, labels []*dto.LabelPair, extra ...string) {
		set := map[string]string{}
		for _, l := range labels {
			set[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(extra); i += 2 {
			set[extra[i]] = extra[i+1]
		}
		series[name] = append(series[name], set)
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM:
				for _, b := range m.GetHistogram().GetBucket() {
					add(name+"_bucket", m.GetLabel(), "le", fmt.Sprint(b.GetUpperBound()))
				}
				add(name+"_bucket", m.GetLabel(), "le", "+Inf")
				add(name+"_sum", m.GetLabel())
				add(name+"_count", m.GetLabel())
			case dto.MetricType_SUMMARY:
				for _, q := range m.GetSummary().GetQuantile() {
					add(name, m.GetLabel(), "quantile", fmt.Sprint(q.GetQuantile()))
				}
				add(name+"_sum", m.GetLabel())
				add(name+"_count", m.GetLabel())
			default:
				add(name, m.GetLabel())
			}
		}
	}
	return series
}

// literalAlternatives matches a regular expression that is only
// alternatives of plain label values ("lag|write_timeout").
var literalAlternatives = regexp.MustCompile(`^[A-Za-z0-9_:./-]+(\|[A-Za-z0-9_:./-]+)*$`)

// missing says why sel reads nothing from series, or "" when it reads
// something: its metric must be there, with each label value it selects
// on (each of the alternatives of a =~ of plain values: a misspelt
// reason would make an alert that never fires). Grafana's variables
// match anything; != and !~ select nothing in particular.
func (series exposition) missing(sel selector) string {
	sets, ok := series[sel.name]
	if !ok {
		return "no such series"
	}
	has := func(label string, match func(string) bool) bool {
		return slices.ContainsFunc(sets, func(set map[string]string) bool {
			v, ok := set[label]
			return ok && match(v)
		})
	}
	for _, m := range sel.matchers {
		if strings.Contains(m.value, "$") || m.value == "" {
			continue
		}
		switch {
		case m.op == "=" || m.op == "=~" && literalAlternatives.MatchString(m.value):
			for _, v := range strings.Split(m.value, "|") {
				if !has(m.label, func(got string) bool { return got == v }) {
					return fmt.Sprintf("no series with %s=%q", m.label, v)
				}
			}
		case m.op == "=~":
			re, err := regexp.Compile("^(?:" + m.value + ")$")
			if err != nil {
				return fmt.Sprintf("%s=~%q: %v", m.label, m.value, err)
			}
			if !has(m.label, re.MatchString) {
				return fmt.Sprintf("no series with %s matching %q", m.label, m.value)
			}
		}
	}
	return ""
}

// TestOpsSeries: every series the alert rules and the dashboard query is
// in a live node's /metrics, with the label values they select on. The
// alerts' are there in a fresh node's first scrape, before anything
// happened (a counter that appeared only with its first increase would
// give rate() nothing to rise from, and the alert would miss it); the
// dashboard's once the node has answered a request (its HTTP figures are
// by route and status). A single node has all but the cluster's series; a
// node of a cluster has those too.
func TestOpsSeries(t *testing.T) {
	rules := readAlerts(t)
	_, _, dashboard := readDashboard(t)
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Expr)
		}
	}
	check := func(t *testing.T, file string, exprs []string, series exposition, cluster bool) {
		t.Helper()
		n := 0
		for _, expr := range exprs {
			sels, err := selectors(expr)
			if err != nil {
				t.Errorf("%s: %v", file, err)
				continue
			}
			for _, sel := range sels {
				if slices.Contains(promOwn, sel.name) || !cluster && strings.HasPrefix(sel.name, "livefeed_cluster_") {
					continue
				}
				n++
				if why := series.missing(sel); why != "" {
					t.Errorf("%s queries %s: %s in /metrics", file, sel, why)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no series checked", file)
		}
	}
	for _, tc := range []struct {
		name    string
		cluster bool
	}{{"Single", false}, {"Cluster", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := nodetest.Config(t)
			if tc.cluster {
				cfg.Cluster.NATSURLs = []string{nodetest.StartNATS(t)}
				cfg.Cluster.Node = "ops-test"
			}
			n := nodetest.Start(t, cfg, node.Options{})
			check(t, "alerts.yml", alerts, scrape(t, n.URL), tc.cluster)
			check(t, "dashboard.json", dashboard, scrape(t, n.URL), tc.cluster)
		})
	}
}

// TestOpsSeriesMissing: the check finds a misspelt metric and a
// misspelt label value, and lets through what exists and what Grafana
// fills in, so that its silence on the shipped files means something.
func TestOpsSeriesMissing(t *testing.T) {
	series := exposition{
		"livefeed_streams_closed_total": {{"reason": "lag"}, {"reason": "write_timeout"}},
		"x_bucket":                      {{"le": "0.5", "route": "/events"}},
	}
	for _, tc := range []struct {
		expr    string
		missing bool
	}{
		{`livefeed_streams_closed_total`, false},
		{`livefeed_streams_closed_total{reason="lag"}`, false},
		{`livefeed_streams_closed_total{reason=~"lag|write_timeout"}`, false},
		{`livefeed_streams_closed_total{reason=~"write_.*"}`, false},
		{`livefeed_streams_closed_total{reason!="shutdown", instance=~"$instance"}`, false},
		{`x_bucket{route="/events"}`, false},
		{`livefeed_stream_closed_total`, true},
		{`x`, true},
		{`livefeed_streams_closed_total{reason="lagged"}`, true},
		{`livefeed_streams_closed_total{reason=~"lag|write-timeout"}`, true},
		{`livefeed_streams_closed_total{reason=~"shut.*"}`, true},
		{`livefeed_streams_closed_total{node="a"}`, true},
	} {
		sels, err := selectors(tc.expr)
		if err != nil || len(sels) != 1 {
			t.Fatalf("selectors(%s) = %v, %v", tc.expr, sels, err)
		}
		if why := series.missing(sels[0]); (why != "") != tc.missing {
			t.Errorf("%s: missing %q, want missing: %v", tc.expr, why, tc.missing)
		}
	}
}

// TestDashboardIsJSON: the shipped dashboard is indented JSON, as Grafana
// exports it, so that a change to it reads as a diff.
func TestDashboardIsJSON(t *testing.T) {
	text := readOps(t, "dashboard.json")
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(text), "", "  "); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(buf.String()) != strings.TrimSpace(text) {
		t.Errorf("dashboard.json is not indented with two spaces")
	}
}
