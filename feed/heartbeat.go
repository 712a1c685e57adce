package feed

// A heartbeat is a publisher's "alive, nothing changed" for the topics of
// some patterns: it keeps watched topics (feed.stale) fresh without an
// event. It is not stored and takes no ID.

// MaxHeartbeatPatterns bounds the patterns of one heartbeat. A heartbeat
// costs a look at every watched topic a prefix pattern covers, and a
// publisher of a few hundred symbols names them by a prefix or two, or a
// hundred at a time.
const MaxHeartbeatPatterns = 100

// ParseHeartbeat reads the body of POST /api/heartbeat:
// {"topics": ["stocks/*", "nba/lal-bos"]}, 1 to MaxHeartbeatPatterns topic
// patterns as a subscription takes them. It reads strictly, as
// ParsePublish does: the one field in exact case, once, no other.
func ParseHeartbeat(body []byte) (Filter, error) {
	p := envelopeReader{b: body, what: "the request body"}
	p.space()
	if p.i == len(p.b) {
		return Filter{}, invalidf(`the request body is empty: send {"topics": ["stocks/*"]}`)
	}
	if !p.at('{') {
		return Filter{}, invalidf(`the request body must be a JSON object {"topics": [...]}, got %s`, p.kind())
	}
	f, err := p.heartbeat("topics")
	if err != nil {
		return Filter{}, err
	}
	p.space()
	if p.i != len(p.b) {
		return Filter{}, invalidf("the request body has data after the JSON value")
	}
	return f, nil
}

// ParseHeartbeatLine reads a line of a streaming publish that is a
// heartbeat, {"heartbeat": ["stocks/*"]}; isHeartbeat is false (and err
// nil) for a line whose object does not start with the field
// "heartbeat": it is an event, for ParseLine.
func ParseHeartbeatLine(line []byte) (f Filter, isHeartbeat bool, err error) {
	p := envelopeReader{b: line, what: "the line"}
	p.space()
	if !p.at('{') {
		return Filter{}, false, nil
	}
	q := p
	q.i++
	q.space()
	if !q.at('"') {
		return Filter{}, false, nil
	}
	if name, err := q.string(); err != nil || name != "heartbeat" {
		return Filter{}, false, nil
	}
	if f, err = p.heartbeat("heartbeat"); err != nil {
		return Filter{}, true, err
	}
	p.space()
	if p.i != len(p.b) {
		return Filter{}, true, invalidf("the line has data after the heartbeat object: send one heartbeat or event a line")
	}
	return f, true, nil
}

// heartbeat reads the object at p.i, whose one field, field, is an array
// of topic patterns.
func (p *envelopeReader) heartbeat(field string) (Filter, error) {
	p.i++ // {
	p.space()
	var patterns []string
	seen := false
	for !p.at('}') {
		if seen {
			if !p.at(',') {
				return Filter{}, p.syntax("expected ',' or '}' after a field")
			}
			p.i++
			p.space()
		}
		if !p.at('"') {
			return Filter{}, p.syntax("expected a field name in double quotes")
		}
		name, err := p.string()
		if err != nil {
			return Filter{}, err
		}
		if name != field {
			return Filter{}, invalidf("unknown field %q: a heartbeat has the one field %q, in lower case", name, field)
		}
		if seen {
			return Filter{}, invalidf("field %q is given twice", name)
		}
		seen = true
		p.space()
		if !p.at(':') {
			return Filter{}, p.syntax("expected ':' after the field name")
		}
		p.i++
		p.space()
		if !p.at('[') {
			return Filter{}, invalidf("field %q must be an array of topic patterns, got %s", field, p.kind())
		}
		p.i++
		p.space()
		for !p.at(']') {
			if len(patterns) > 0 {
				if !p.at(',') {
					return Filter{}, p.syntax("expected ',' or ']' after a topic pattern")
				}
				p.i++
				p.space()
			}
			if !p.at('"') {
				return Filter{}, invalidf("field %q must hold topic patterns as strings, got %s", field, p.kind())
			}
			s, err := p.string()
			if err != nil {
				return Filter{}, err
			}
			if len(patterns) == MaxHeartbeatPatterns {
				return Filter{}, invalidf("a heartbeat names at most %d topic patterns", MaxHeartbeatPatterns)
			}
			patterns = append(patterns, s)
			p.space()
		}
		p.i++ // ]
		p.space()
	}
	p.i++ // }
	if !seen {
		return Filter{}, invalidf("field %q is missing: name the topic patterns the heartbeat is for", field)
	}
	f, err := parseFilter(patterns, MaxHeartbeatPatterns)
	if err != nil {
		return Filter{}, err
	}
	return f, nil
}
