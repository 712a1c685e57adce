package feed

import "strings"

// Access is what one reader may read of a deployment some of whose topics
// are private: every topic Private does not match, and the private ones its
// subscriber token grants. Two topic sets, one check (the shape of
// Mercure's MatchTopics). The zero Access makes nothing private.
type Access struct {
	Private Filter // topics that need a grant; the zero Filter when none do
	Granted Filter // what the reader's token grants; the zero Filter for none
}

// Allows reports whether the reader may see events on topic.
func (a Access) Allows(topic string) bool {
	return !a.Private.Match(topic) || a.Granted.Match(topic)
}

// Unrestricted reports whether a allows every topic: nothing is private, or
// everything is granted.
func (a Access) Unrestricted() bool { return a.Private.IsZero() || a.Granted.All }

// Narrow returns the topics of f that a allows. The result is worked out
// once, when a subscriber connects or a query starts, so that matching an
// event costs what matching f does whenever the private topics can be cut
// out of f's patterns exactly (see Visible.Exact).
func (a Access) Narrow(f Filter) Visible {
	if a.Unrestricted() {
		return Visible{bounds: f, exact: true}
	}
	if f.All {
		if a.Private.All {
			// Everything is private: exactly what is granted.
			return Visible{bounds: a.Granted, exact: true}
		}
		return Visible{bounds: f, access: a}
	}
	var b Filter
	exact := true
	for _, t := range f.Topics {
		if a.Allows(t) {
			b.Topics = append(b.Topics, t)
		}
	}
	for _, p := range f.Prefixes {
		switch {
		case !a.Private.overlaps(p) || a.Granted.covers(p):
			b.Prefixes = append(b.Prefixes, p) // all public, or all granted
		case a.Private.covers(p):
			// All private: only the granted patterns under p.
			for _, t := range a.Granted.Topics {
				if strings.HasPrefix(t, p) {
					b.Topics = append(b.Topics, t)
				}
			}
			for _, q := range a.Granted.Prefixes {
				if strings.HasPrefix(q, p) {
					b.Prefixes = append(b.Prefixes, q)
				}
			}
		default:
			// Some private topics under p, not all granted: no set of
			// patterns says which topics are left ("nba/*" less
			// "nba/premium/*"), so p stays and each topic is checked.
			b.Prefixes = append(b.Prefixes, p)
			exact = false
		}
	}
	v := Visible{bounds: b.normalized(), exact: exact}
	if !exact {
		v.access = a
	}
	return v
}

// Visible is a Filter narrowed by an Access: the topics of the filter that
// a reader may see. Its Bounds are patterns holding every one of them; when
// Exact, they hold nothing else.
type Visible struct {
	bounds Filter
	access Access // checked for each topic unless exact
	exact  bool
}

// Match reports whether the reader sees events on topic.
func (v Visible) Match(topic string) bool {
	return v.bounds.Match(topic) && (v.exact || v.access.Allows(topic))
}

// Keys returns the patterns of Bounds, for indexing subscribers by topic.
func (v Visible) Keys() (topics, prefixes []string, all bool) { return v.bounds.Keys() }

// Exact reports whether Bounds match only visible topics, so that Match is
// Bounds().Match.
func (v Visible) Exact() bool { return v.exact }

// Bounds returns patterns that match every visible topic (and, unless
// Exact, some topics that are not). The zero Filter means none is visible.
func (v Visible) Bounds() Filter { return v.bounds }

// Access returns the check Match makes beyond Bounds; the zero Access when
// Exact.
func (v Visible) Access() Access { return v.access }

// String describes the visible topics, for logs.
func (v Visible) String() string {
	if v.bounds.IsZero() {
		return "(none)"
	}
	if v.exact {
		return v.bounds.String()
	}
	return v.bounds.String() + " (public or granted)"
}

// Identity names what v matches: the same for two Visibles that match the
// same topics (fanout counts their subscribers together).
func (v Visible) Identity() string {
	if v.exact {
		return v.bounds.Identity()
	}
	return v.bounds.Identity() + "\x00" + v.access.Private.Identity() + "\x00" + v.access.Granted.Identity()
}
