package feed

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Bounds of the two delivery policies that take a duration. A conflation
// interval below 100 ms saves a phone nothing (a screen refreshes about as
// often) and costs a tick that often; above an hour it is no longer a
// live feed. A delay below a second is no delay anyone licenses; above a
// day the history pages serve better.
const (
	MinConflate = 100 * time.Millisecond
	MaxConflate = time.Hour
	MinDelay    = time.Second
	MaxDelay    = 24 * time.Hour
)

// EventDelayed is the event of the server's that opens a delayed stream:
// it says by how much the whole stream is delayed, and the delay of each
// pattern asked for, so that a widget shows "Delayed 15 min" by itself
// and asks for its real-time topics on a stream of their own. Its data is
// {"delay_ms": N, "delay": "15 min", "topics": {"stocks/*": N, ...}}.
// Like EventPosition it carries data (clients drop frames without) and
// has a dot, so no publisher can send one.
const EventDelayed = "livefeed.delayed"

// ParseConflate reads a conflation interval as a client or a token gives
// it: a duration with a unit in Go's syntax ("1s", "500ms", "2m"), from
// MinConflate to MaxConflate. A bare number is refused: "1000" could be
// milliseconds or seconds.
func ParseConflate(s string) (time.Duration, error) {
	return parseBounded("conflate", s, MinConflate, MaxConflate)
}

// ParseDelay reads a delay as the configuration gives it: a duration with
// a unit, from MinDelay to MaxDelay.
func ParseDelay(s string) (time.Duration, error) {
	return parseBounded("delay", s, MinDelay, MaxDelay)
}

func parseBounded(name, s string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || strings.TrimLeft(s, "0123456789.") == "" {
		return 0, invalidf("%s must be a duration with a unit, such as %q or %q, got %q", name, FormatDuration(lo*10), FormatDuration(lo), s)
	}
	if d < lo || d > hi {
		return 0, invalidf("%s %s is out of range: use %s to %s", name, s, FormatDuration(lo), FormatDuration(hi))
	}
	return d, nil
}

// FormatDuration writes d as a configuration file or a query would: "1s",
// "15m", "1h30m", "250ms".
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// DescribeDelay writes a delay as a person reads it in a widget: "15 min",
// "60 s", "1 h", "1 h 30 min".
func DescribeDelay(d time.Duration) string {
	switch {
	case d < time.Minute || d%time.Minute != 0:
		return fmt.Sprintf("%g s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%d min", d/time.Minute)
	case d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	}
	return fmt.Sprintf("%d h %d min", d/time.Hour, (d%time.Hour)/time.Minute)
}

// Tier is a set of topics with a duration: a delayed tier (its events
// reach readers without a real-time grant only once that old), or a
// minimum conflation interval (its topics reach a subscriber at most once
// per interval).
type Tier struct {
	Topics   Filter
	Duration time.Duration
}

// Tiers are the tiers of one policy, in any order; a topic in several
// takes the longest duration.
type Tiers []Tier

// For returns the duration that applies to a reader of the topics of f
// who is exempt from the tiers for the topics of exempt (a real-time
// grant; the zero Filter for none): the longest duration of a tier that
// holds some topic of f that exempt does not. It is 0 when none does. It
// goes by what the patterns can hold, not by the topics that exist, so a
// topic published later never falls outside what a stream opened before
// was told.
func (ts Tiers) For(f, exempt Filter) time.Duration {
	var d time.Duration
	for _, t := range ts {
		if t.Duration > d && holdsOutside(f, t.Topics, exempt) {
			d = t.Duration
		}
	}
	return d
}

// Of returns the duration that applies to one topic for a reader exempt
// for the topics of exempt.
func (ts Tiers) Of(topic string, exempt Filter) time.Duration {
	if exempt.Match(topic) {
		return 0
	}
	var d time.Duration
	for _, t := range ts {
		if t.Duration > d && t.Topics.Match(topic) {
			d = t.Duration
		}
	}
	return d
}

// Durations returns the distinct durations of the tiers, shortest first.
func (ts Tiers) Durations() []time.Duration {
	var out []time.Duration
	for _, t := range ts {
		if !slices.Contains(out, t.Duration) {
			out = append(out, t.Duration)
		}
	}
	slices.Sort(out)
	return out
}

// holdsOutside reports whether some topic matches both f and g and not
// exempt.
func holdsOutside(f, g, exempt Filter) bool {
	for _, a := range f.patterns() {
		for _, b := range g.patterns() {
			if x, ok := intersect(a, b); ok && !exempt.coversPattern(x) {
				return true
			}
		}
	}
	return false
}

// A pattern is one part of a filter: every topic (all), the topics under
// a prefix ending in "/", or one topic.
type pattern struct {
	all    bool
	prefix string
	topic  string
}

// patterns returns the parts of f.
func (f Filter) patterns() []pattern {
	if f.All {
		return []pattern{{all: true}}
	}
	out := make([]pattern, 0, len(f.Topics)+len(f.Prefixes))
	for _, t := range f.Topics {
		out = append(out, pattern{topic: t})
	}
	for _, p := range f.Prefixes {
		out = append(out, pattern{prefix: p})
	}
	return out
}

// intersect returns the pattern of the topics both a and b match, and
// false if there are none: two patterns of this grammar always meet in
// one pattern or not at all.
func intersect(a, b pattern) (pattern, bool) {
	switch {
	case a.all:
		return b, true
	case b.all:
		return a, true
	case a.topic != "" && b.topic != "":
		return a, a.topic == b.topic
	case a.topic != "":
		return a, strings.HasPrefix(a.topic, b.prefix)
	case b.topic != "":
		return b, strings.HasPrefix(b.topic, a.prefix)
	case strings.HasPrefix(a.prefix, b.prefix):
		return a, true
	case strings.HasPrefix(b.prefix, a.prefix):
		return b, true
	}
	return pattern{}, false
}

// coversPattern reports whether f matches every topic of p.
func (f Filter) coversPattern(p pattern) bool {
	switch {
	case f.All:
		return true
	case p.all:
		return false
	case p.topic != "":
		return f.Match(p.topic)
	}
	return f.covers(p.prefix)
}
