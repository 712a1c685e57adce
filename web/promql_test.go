package web_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// selector is a series a PromQL expression reads: a metric name and the
// label matchers it is given.
type selector struct {
	name     string
	matchers []matcher
}

// matcher is one label matcher of a selector: label op "value", op one
// of =, !=, =~, !~.
type matcher struct{ label, op, value string }

func (s selector) String() string {
	var b strings.Builder
	b.WriteString(s.name)
	if len(s.matchers) > 0 {
		b.WriteByte('{')
		for i, m := range s.matchers {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s%s%q", m.label, m.op, m.value)
		}
		b.WriteByte('}')
	}
	return b.String()
}

// promqlWords are PromQL's words that are not metric names where they
// stand without a parenthesis right after them: operators, and the
// aggregations, which may have by (...) or without (...) first.
// Functions always have one.
var promqlWords = []string{"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
	"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
	"bottomk", "topk", "quantile", "limitk", "limit_ratio"}

// promqlGroupings take a parenthesised list of label names.
var promqlGroupings = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}

// selectors returns the series expr reads. It knows as much PromQL as
// the shipped rules and dashboard need, and refuses what it does not
// know rather than miss a series: strings, ranges and subqueries, label
// lists of by/without/on/ignoring/group_left/group_right, numbers and
// durations, Grafana's variables ($instance, ${datasource},
// $__rate_interval), and a selector without a metric name (an error).
func selectors(expr string) ([]selector, error) {
	var out []selector
	isWordStart := func(c byte) bool { return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	isWord := func(c byte) bool { return isWordStart(c) || '0' <= c && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(expr) && strings.IndexByte(" \t\r\n", expr[i]) >= 0 {
			i++
		}
		return i
	}
	// closing returns the index just past the bracket that closes the
	// one at i, passing over strings.
	closing := func(i int) (int, error) {
		open, end := expr[i], map[byte]byte{'(': ')', '[': ']', '{': '}'}[expr[i]]
		depth := 0
		for j := i; j < len(expr); j++ {
			switch c := expr[j]; {
			case c == '"' || c == '\'' || c == '`':
				k, _, err := promqlString(expr, j)
				if err != nil {
					return 0, err
				}
				j = k - 1
			case c == open:
				depth++
			case c == end:
				if depth--; depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("%q: %c at %d is not closed", expr, open, i)
	}
	depth := 0 // of parentheses
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '(' || c == ')':
			if c == '(' {
				depth++
			} else if depth--; depth < 0 {
				return nil, fmt.Errorf("%q: ) at %d closes nothing", expr, i)
			}
			i++
		case c == '"' || c == '\'' || c == '`':
			j, _, err := promqlString(expr, i)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '[':
			j, err := closing(i)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '{':
			return nil, fmt.Errorf("%q: a selector without a metric name at %d", expr, i)
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				j, err := closing(i)
				if err != nil {
					return nil, err
				}
				i = j
				continue
			}
			for i < len(expr) && isWord(expr[i]) {
				i++
			}
		case '0' <= c && c <= '9' || c == '.' && i+1 < len(expr) && '0' <= expr[i+1] && expr[i+1] <= '9':
			// A number or a duration: 0.99, 1e3, 5m, 1h30m.
			for i < len(expr) && (isWord(expr[i]) || expr[i] == '.' ||
				(expr[i] == '+' || expr[i] == '-') && (expr[i-1] == 'e' || expr[i-1] == 'E')) {
				i++
			}
		case isWordStart(c):
			j := i
			for j < len(expr) && isWord(expr[j]) {
				j++
			}
			word, next := expr[i:j], skipSpace(j)
			switch {
			case slices.Contains(promqlGroupings, word):
				if next >= len(expr) || expr[next] != '(' {
					return nil, fmt.Errorf("%q: %s without its labels at %d", expr, word, i)
				}
				k, err := closing(next)
				if err != nil {
					return nil, err
				}
				i = k
			case next < len(expr) && expr[next] == '(' || slices.Contains(promqlWords, strings.ToLower(word)):
				i = j // a function, an aggregation or an operator
			default:
				sel := selector{name: word}
				i = j
				if next < len(expr) && expr[next] == '{' {
					k, err := closing(next)
					if err != nil {
						return nil, err
					}
					if sel.matchers, err = promqlMatchers(expr[next+1 : k-1]); err != nil {
						return nil, fmt.Errorf("%q: %w", expr, err)
					}
					i = k
				}
				out = append(out, sel)
			}
		default:
			i++
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("%q: a parenthesis is not closed", expr)
	}
	return out, nil
}

// promqlMatchers parses the label matchers between a selector's braces.
func promqlMatchers(s string) ([]matcher, error) {
	var out []matcher
	for i := 0; ; {
		for i < len(s) && strings.IndexByte(" \t\r\n,", s[i]) >= 0 {
			i++
		}
		if i == len(s) {
			return out, nil
		}
		j := i
		for j < len(s) && (s[j] == '_' || 'a' <= s[j] && s[j] <= 'z' || 'A' <= s[j] && s[j] <= 'Z' || i < j && '0' <= s[j] && s[j] <= '9') {
			j++
		}
		if j == i {
			return nil, fmt.Errorf("matchers %q: a label name expected at %d", s, i)
		}
		label := s[i:j]
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		op := ""
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(s[j:], o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, fmt.Errorf("matchers %q: an operator expected after %s", s, label)
		}
		j += len(op)
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		k, value, err := promqlString(s, j)
		if err != nil {
			return nil, fmt.Errorf("matchers %q: %w", s, err)
		}
		out = append(out, matcher{label, op, value})
		i = k
	}
}

// promqlString reads the string literal at s[i] and returns the index
// past it and its value: "..." and '...' with Go's escapes, `...` raw.
func promqlString(s string, i int) (end int, value string, err error) {
	if i >= len(s) || strings.IndexByte("\"'`", s[i]) < 0 {
		return 0, "", fmt.Errorf("a string expected at %d of %q", i, s)
	}
	quote := s[i]
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == quote:
			return j + 1, b.String(), nil
		case c == '\\' && quote != '`' && j+1 < len(s):
			j++
			switch e := s[j]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return 0, "", fmt.Errorf("the string at %d of %q is not closed", i, s)
}

// TestSelectors: the series of the expressions the shipped files use,
// and no label, function or number taken for one.
func TestSelectors(t *testing.T) {
	for _, tc := range []struct {
		name, expr string
		want       []string // selector.String()
	}{
		{"Comparison", `up{job="livefeed"} == 0`, []string{`up{job="livefeed"}`}},
		{"Absent", `absent(up{job="livefeed"})`, []string{`up{job="livefeed"}`}},
		{"SumByRate", `sum by (instance) (rate(livefeed_publish_failures_total{reason=~"unauthorized|forbidden"}[5m])) > 1`,
			[]string{`livefeed_publish_failures_total{reason=~"unauthorized|forbidden"}`}},
		{"ByAfter", `sum(rate(a_total[5m])) by (reason)`, []string{"a_total"}},
		{"Quantile", `histogram_quantile(0.99, sum by (instance, le) (rate(livefeed_publish_commit_seconds_bucket[5m]))) > 0.1`,
			[]string{"livefeed_publish_commit_seconds_bucket"}},
		{"Ratio", `max by (instance) (process_open_fds / process_max_fds) > 0.8`, []string{"process_open_fds", "process_max_fds"}},
		{"Arithmetic", `max(process_resident_memory_bytes) > 1.6 * 1024 * 1024 * 1024`, []string{"process_resident_memory_bytes"}},
		{"Exponent", `a > 1e+3 and b < 2.5E-1`, []string{"a", "b"}},
		{"Join", `a / on(instance) group_left(node) b offset 1h30m`, []string{"a", "b"}},
		{"BoolAndSet", `a > bool 1 unless b or c`, []string{"a", "b", "c"}},
		{"Grafana", `sum by (route, le) (rate(x_bucket{route!="/events", instance=~"$instance"}[$__rate_interval]))`,
			[]string{`x_bucket{route!="/events",instance=~"$instance"}`}},
		{"GrafanaBraces", `rate(x[${interval}]) * ${scale}`, []string{"x"}},
		{"Escapes", `x{a="b\"}c", b='d', c=~` + "`e|f`" + `,}`, []string{`x{a="b\"}c",b="d",c=~"e|f"}`}},
		{"Subquery", `max_over_time(rate(x[5m])[1h:1m])`, []string{"x"}},
		{"Colons", `job:requests:rate5m > 0`, []string{"job:requests:rate5m"}},
		{"Number", `vector(1)`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sels, err := selectors(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range sels {
				got = append(got, s.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("selectors(%s) = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
	for _, expr := range []string{`{__name__="x"}`, `x{a="b}`, `sum(x`, `x{a}`, `sum by x`, `x{1a="b"}`} {
		t.Run("Refused", func(t *testing.T) {
			if sels, err := selectors(expr); err == nil {
				t.Errorf("selectors(%s) = %v, want an error", expr, sels)
			}
		})
	}
}
