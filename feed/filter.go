package feed

import (
	"slices"
	"strings"
)

// MaxPatterns bounds the topic patterns of one subscription or query, so a
// single request cannot make every match check expensive.
const MaxPatterns = 64

// Filter selects events by topic. It is built by ParseFilter from patterns:
// an exact topic, a prefix ending in "/*" ("nba/*" matches every topic under
// "nba/") or "*" for every topic.
type Filter struct {
	All      bool     // "*": every topic
	Topics   []string // exact topics, sorted, without duplicates
	Prefixes []string // each ends in "/", sorted, none covered by another
}

// ParseFilter parses subscription patterns. Exact topics already covered by a
// prefix and prefixes covered by a shorter one are dropped, so each event
// matches a filter in exactly one way.
func ParseFilter(patterns []string) (Filter, error) { return parseFilter(patterns, MaxPatterns) }

// parseFilter is ParseFilter with at most limit patterns.
func parseFilter(patterns []string, limit int) (Filter, error) {
	if len(patterns) == 0 {
		return Filter{}, invalidf("at least one topic is required (a topic, a prefix such as \"nba/*\", or \"*\")")
	}
	if len(patterns) > limit {
		return Filter{}, invalidf("%d topic patterns; the limit is %d", len(patterns), limit)
	}
	var f Filter
	for _, p := range patterns {
		switch {
		case p == "*":
			f.All = true
		case strings.HasSuffix(p, "/*"):
			base := strings.TrimSuffix(p, "/*")
			if err := ValidateTopic(base); err != nil {
				return Filter{}, invalidf("topic pattern %q: the part before \"/*\" is not a valid topic", p)
			}
			f.Prefixes = append(f.Prefixes, base+"/")
		default:
			if err := ValidateTopic(p); err != nil {
				return Filter{}, err
			}
			f.Topics = append(f.Topics, p)
		}
	}
	return f.normalized(), nil
}

// normalized returns f with exact topics covered by a prefix, prefixes
// covered by a shorter one and duplicates dropped, both lists sorted.
func (f Filter) normalized() Filter {
	if f.All {
		return Filter{All: true}
	}
	// After sorting, a prefix that covers another sorts before it.
	f.Prefixes = slices.Clone(f.Prefixes)
	f.Topics = slices.Clone(f.Topics)
	slices.Sort(f.Prefixes)
	prefixes := f.Prefixes[:0:0]
	for _, p := range f.Prefixes {
		if !(Filter{Prefixes: prefixes}).underPrefix(p, len(p)+1) {
			prefixes = append(prefixes, p)
		}
	}
	f.Prefixes = prefixes
	slices.Sort(f.Topics)
	f.Topics = slices.Compact(f.Topics)
	f.Topics = slices.DeleteFunc(f.Topics, func(t string) bool { return f.underPrefix(t, len(t)+1) })
	return f
}

// IsZero reports whether f is the zero Filter, which matches no topic.
// (ParseFilter never returns it; a feed.Range takes it for every topic.)
func (f Filter) IsZero() bool { return !f.All && len(f.Topics) == 0 && len(f.Prefixes) == 0 }

// overlaps reports whether f matches some topic under prefix p (which ends
// in "/").
func (f Filter) overlaps(p string) bool {
	if f.All {
		return true
	}
	for _, t := range f.Topics {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	for _, q := range f.Prefixes {
		if strings.HasPrefix(q, p) || strings.HasPrefix(p, q) {
			return true
		}
	}
	return false
}

// covers reports whether f matches every topic under prefix p.
func (f Filter) covers(p string) bool {
	if f.All {
		return true
	}
	for _, q := range f.Prefixes {
		if strings.HasPrefix(p, q) {
			return true
		}
	}
	return false
}

// underPrefix reports whether s starts with one of the filter's prefixes that
// is shorter than limit bytes.
func (f Filter) underPrefix(s string, limit int) bool {
	for _, p := range f.Prefixes {
		if len(p) < limit && strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Match reports whether an event on topic passes the filter.
func (f Filter) Match(topic string) bool {
	if f.All {
		return true
	}
	for _, t := range f.Topics {
		if t == topic {
			return true
		}
	}
	return f.underPrefix(topic, len(topic)+1)
}

// Covers reports whether f matches every topic g matches: a publish
// token's scope f allows a heartbeat for g.
func (f Filter) Covers(g Filter) bool {
	for _, p := range g.patterns() {
		if !f.coversPattern(p) {
			return false
		}
	}
	return true
}

// Keys returns the parts of the filter, for indexing subscribers by topic.
func (f Filter) Keys() (topics, prefixes []string, all bool) {
	return f.Topics, f.Prefixes, f.All
}

// String returns the patterns the filter was parsed from, normalised.
func (f Filter) String() string {
	if f.All {
		return "*"
	}
	parts := make([]string, 0, len(f.Topics)+len(f.Prefixes))
	parts = append(parts, f.Topics...)
	for _, p := range f.Prefixes {
		parts = append(parts, p+"*")
	}
	return strings.Join(parts, ",")
}

// Identity names what f matches: the same for two filters that match the
// same topics (fanout counts their subscribers together).
func (f Filter) Identity() string { return f.normalized().String() }
