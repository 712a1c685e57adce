package cluster

// The audience of a cluster is the sum of its nodes' (see fanout.Sum).
// Each node shares its own count, never a sum, every audience interval
// (Options.AudienceEvery) on a core NATS subject beside the heartbeats',
// not under the stream's subjects: a count is not stored and takes no
// ID, and a lost one is made good by the next. Each node keeps the latest
// count of every other node with the time it arrived, and sums those that
// arrived within audienceTTL intervals with its own. A node that closes
// says goodbye and the others drop its count at once; one that vanishes
// (killed, cut off from NATS) stops counting once its last count is
// older than audienceTTL intervals.
//
// Nothing of it is done per event: a count is made and sent once per
// interval, O(subscribers + known topics) on each node.

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"livefeed/feed"
	"livefeed/feed/fanout"
)

// headerBye marks the goodbye of a node that closes (its From header
// names it, the body is empty): the others drop its count at once.
const headerBye = "Livefeed-Bye"

// audienceTTL is how many audience intervals a node's count is summed
// after it arrived: three, so that one or two counts lost or late do
// not make a node's viewers blink out of the sum, and a node that
// vanished without a goodbye stops counting within three intervals.
const audienceTTL = 3

// maxAudienceBytes bounds an audience message's body, sent and taken: 1
// MiB, NATS's default max_payload (a server with a smaller one bounds
// what is sent further). A node with more watched topics than fit (about
// 30,000 of 30 bytes) shares its most watched ones.
const maxAudienceBytes = 1 << 20

// maxAudienceCount bounds each figure of a count: no node holds 16
// million streams (one holds about 19,000 on a machine with 20,000 open
// files), so a larger figure is a forgery or a bug, refused whole.
const maxAudienceCount = 1 << 24

// maxAudienceNodes bounds the other nodes whose counts a node keeps: a
// flood of counts under made-up node IDs costs bounded memory (each
// count at most maxAudienceBytes). A count from one more node is
// dropped until another's expires.
const maxAudienceNodes = 64

// The pending audience messages a node holds at most before NATS drops
// newer ones (as a slow consumer).
const (
	audiencePending      = 1024
	audiencePendingBytes = 16 << 20
)

// audienceSubject is the subject of the audience counts of the cluster
// whose stream takes prefix.>: a sibling of the prefix, like
// heartbeatSubject, so that the stream never stores a count.
func audienceSubject(prefix string) string { return prefix + "_audience" }

// audiences are the latest counts of the other nodes, by sender.
type audiences struct {
	every time.Duration // Options.AudienceEvery

	mu      sync.Mutex
	others  map[string]*fanout.Audience // At is when it arrived
	version uint64                      // advanced at every change of others
	summed  *fanout.Audience            // the latest sum, see Audience
	own     *fanout.Audience            // of summed
	of      uint64                      // the version of summed

	unshared   int // watched topics left out of this node's latest count, for size
	warnedSize bool
}

// shareAudience sends this node's count every interval until the node
// closes, and drops the others' counts that expired.
func (n *Node) shareAudience() {
	t := time.NewTicker(n.aud.every)
	defer t.Stop()
	for {
		n.sendAudience()
		n.aud.expire(time.Now())
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
	}
}

// sendAudience sends this node's count, if it can reach NATS (a count
// lost is made good by the next).
func (n *Node) sendAudience() {
	a := n.opts.Audience()
	if a == nil || !n.nc.IsConnected() {
		return
	}
	limit := maxAudienceBytes
	if mp := int(n.nc.MaxPayload()); mp > 0 && mp < limit {
		limit = mp
	}
	// Room for the headers, which max_payload counts too.
	limit -= 512
	body, left := encodeAudience(a, limit)
	n.aud.mu.Lock()
	n.aud.unshared = left
	warn := left > 0 && !n.aud.warnedSize
	if warn {
		n.aud.warnedSize = true
	}
	n.aud.mu.Unlock()
	if warn {
		n.log.Warn("this node watches more topics than its audience count can carry to the other nodes: it shares its most watched ones, and the others do not count its viewers of the rest (livefeed_cluster_audience_unshared_topics says how many)",
			"subject", audienceSubject(n.prefix), "left_out", left, "bytes", limit)
	}
	m := nats.NewMsg(audienceSubject(n.prefix))
	m.Header.Set(headerBeatFrom, n.self)
	m.Data = body
	if err := n.nc.PublishMsg(m); err != nil {
		n.log.Debug("this node's audience count could not be sent to the other nodes", "err", err)
	}
}

// sayGoodbye tells the other nodes to drop this node's count now: it is
// closing.
func (n *Node) sayGoodbye() {
	if n.aud.every <= 0 || !n.nc.IsConnected() {
		return
	}
	m := nats.NewMsg(audienceSubject(n.prefix))
	m.Header.Set(headerBeatFrom, n.self)
	m.Header.Set(headerBye, "1")
	if err := n.nc.PublishMsg(m); err != nil {
		return // the others drop its count when it expires
	}
	n.nc.FlushTimeout(time.Second)
}

// subscribeAudience keeps the latest count of every other node. NATS
// subscribes again by itself after a reconnect.
func (n *Node) subscribeAudience() error {
	sub, err := n.nc.Subscribe(audienceSubject(n.prefix), func(m *nats.Msg) {
		from := m.Header.Get(headerBeatFrom)
		if from == n.self {
			return // this node's own, counted as it is
		}
		if from == "" || len(from) > 64 {
			n.droppedAudience(fmt.Errorf("an audience count whose %s header is %d bytes (1 to 64)", headerBeatFrom, len(from)))
			return
		}
		if m.Header.Get(headerBye) != "" {
			n.aud.drop(from)
			return
		}
		a, err := parseAudience(m.Data)
		if err != nil {
			n.droppedAudience(err)
			return
		}
		a.At = time.Now()
		if err := n.aud.take(from, a); err != nil {
			n.droppedAudience(err)
		}
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe to the audience counts (%s): %w", audienceSubject(n.prefix), err)
	}
	return sub.SetPendingLimits(audiencePending, audiencePendingBytes)
}

// take keeps a, the latest count of the node from.
func (as *audiences) take(from string, a *fanout.Audience) error {
	as.mu.Lock()
	defer as.mu.Unlock()
	if _, known := as.others[from]; !known && len(as.others) >= maxAudienceNodes {
		as.expireLocked(a.At)
		if len(as.others) >= maxAudienceNodes {
			return fmt.Errorf("an audience count from one node more than the %d kept", maxAudienceNodes)
		}
	}
	as.others[from] = a
	as.version++
	return nil
}

// drop forgets the count of the node from, which said goodbye.
func (as *audiences) drop(from string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	if _, ok := as.others[from]; ok {
		delete(as.others, from)
		as.version++
	}
}

// expire forgets the counts that arrived audienceTTL intervals before
// now or earlier.
func (as *audiences) expire(now time.Time) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.expireLocked(now)
}

func (as *audiences) expireLocked(now time.Time) {
	for from, a := range as.others {
		if as.expired(a, now) {
			delete(as.others, from)
			as.version++
		}
	}
}

func (as *audiences) expired(a *fanout.Audience, now time.Time) bool {
	return now.Sub(a.At) >= audienceTTL*as.every
}

// Audience returns own, this node's count, summed with the latest counts
// of the other nodes that have not expired (fanout.Sum); own alone where
// the node does not share counts (Options.Audience unset). The sum is
// kept while own and the others' are the same, and shared by every
// caller meanwhile: they must not change it.
func (n *Node) Audience(own *fanout.Audience) *fanout.Audience {
	as := &n.aud
	if as.every <= 0 || own == nil {
		return own
	}
	now := time.Now()
	as.mu.Lock()
	defer as.mu.Unlock()
	stale := false
	for _, a := range as.others {
		if as.expired(a, now) {
			stale = true
			break
		}
	}
	if stale {
		as.expireLocked(now)
	}
	if as.summed != nil && as.own == own && as.of == as.version {
		return as.summed
	}
	all := make([]*fanout.Audience, 0, len(as.others)+1)
	all = append(all, own)
	for _, a := range as.others {
		all = append(all, a)
	}
	as.summed, as.own, as.of = fanout.Sum(all...), own, as.version
	return as.summed
}

// droppedAudience counts a dropped audience count and logs it, at most
// once a second, as droppedHeartbeat does.
func (n *Node) droppedAudience(err error) {
	dropped := n.badAudience.Add(1)
	if _, due := n.badAudienceLog.Due(time.Second); !due {
		return
	}
	n.log.Warn("dropped an audience count from the NATS network", "subject", audienceSubject(n.prefix), "err", err, "dropped", dropped)
}

// The fields of an audience message's body, a JSON object:
//
//	{"streams":12,"patterns":3,"delayed":0,"conflated":1,"viewers":{"nba/a":5,"stocks/A":2}}
//
// the totals of fanout.Audience, and the topics with viewers.
var audienceTotals = []string{"streams", "patterns", "delayed", "conflated"}

// encodeAudience returns the body of the message that shares a: its
// totals and each topic with viewers, at most limit bytes. Where they do
// not fit, the most watched topics are kept, and left is how many were
// left out.
func encodeAudience(a *fanout.Audience, limit int) (body []byte, left int) {
	type entry struct {
		topic string
		n     int
	}
	watched := make([]entry, 0, len(a.Viewers))
	size := 0
	for t, n := range a.Viewers {
		if n > 0 {
			watched = append(watched, entry{t, n})
			size += len(t) + 24 // "topic":n, with room for the digits
		}
	}
	body = fmt.Appendf(make([]byte, 0, min(size, limit)+128), `{"streams":%d,"patterns":%d,"delayed":%d,"conflated":%d,"viewers":{`,
		a.Streams, a.Patterns, a.Delayed, a.Conflated)
	if len(body)+size+2 > limit {
		// Too many to share: the most watched first, so that the ones
		// left out are those of the fewest viewers.
		slices.SortFunc(watched, func(x, y entry) int {
			return cmp.Or(cmp.Compare(y.n, x.n), strings.Compare(x.topic, y.topic))
		})
	}
	for i, e := range watched {
		was := len(body)
		if i > 0 {
			body = append(body, ',')
		}
		// Topics are of [A-Za-z0-9._/-] (feed.ValidateTopic): nothing to
		// escape.
		body = append(append(append(body, '"'), e.topic...), `":`...)
		body = strconv.AppendInt(body, int64(e.n), 10)
		if len(body)+2 > limit {
			return append(body[:was], "}}"...), len(watched) - i
		}
	}
	return append(body, "}}"...), 0
}

// parseAudience reads the body of another node's audience message. It
// comes from the NATS network and is read as untrusted input: one JSON
// object with the totals and the viewers, each field once and in lower
// case, every figure a whole number from 0 to maxAudienceCount and the
// viewers of a topic no more than the streams, every topic valid; else
// the whole count is refused. Topics this node does not know yet are
// taken: its history may lag the sender's.
func parseAudience(body []byte) (*fanout.Audience, error) {
	if len(body) > maxAudienceBytes {
		return nil, fmt.Errorf("an audience count of %d bytes (at most %d)", len(body), maxAudienceBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := expectDelim(dec, '{', "an audience count"); err != nil {
		return nil, err
	}
	a := &fanout.Audience{}
	totals := map[string]*int{"streams": &a.Streams, "patterns": &a.Patterns, "delayed": &a.Delayed, "conflated": &a.Conflated}
	seen := map[string]bool{}
	for dec.More() {
		name, err := objectKey(dec)
		if err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, fmt.Errorf("field %q is given twice", name)
		}
		seen[name] = true
		if p, ok := totals[name]; ok {
			if *p, err = figure(dec, name); err != nil {
				return nil, err
			}
			continue
		}
		if name != "viewers" {
			return nil, fmt.Errorf("unknown field %q: an audience count has %s and viewers, in lower case", name, strings.Join(audienceTotals, ", "))
		}
		if a.Viewers, err = viewers(dec); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, fmt.Errorf("an audience count: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("an audience count has data after the JSON object")
	}
	for _, name := range append(audienceTotals, "viewers") {
		if !seen[name] {
			return nil, fmt.Errorf("an audience count without %q", name)
		}
	}
	for _, n := range []int{a.Patterns, a.Delayed, a.Conflated} {
		if n > a.Streams {
			return nil, fmt.Errorf("an audience count of %d streams with a total of %d", a.Streams, n)
		}
	}
	for t, n := range a.Viewers {
		if n > a.Streams {
			return nil, fmt.Errorf("an audience count of %d streams, %d of which receive %s", a.Streams, n, t)
		}
	}
	return a, nil
}

// viewers reads the object of topics and their viewers.
func viewers(dec *json.Decoder) (map[string]int, error) {
	if err := expectDelim(dec, '{', `"viewers"`); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for dec.More() {
		topic, err := objectKey(dec)
		if err != nil {
			return nil, err
		}
		if err := feed.ValidateTopic(topic); err != nil {
			return nil, fmt.Errorf("viewers of %q: %w", topic, err)
		}
		if _, dup := out[topic]; dup {
			return nil, fmt.Errorf("the viewers of %s are given twice", topic)
		}
		if out[topic], err = figure(dec, topic); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, fmt.Errorf("viewers: %w", err)
	}
	return out, nil
}

func expectDelim(dec *json.Decoder, want json.Delim, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%s is not a JSON object", what)
	}
	return nil
}

func objectKey(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("an audience count: %w", err)
	}
	key, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("an audience count: a field name of %v", tok)
	}
	return key, nil
}

// figure reads a figure of a count: a whole number from 0 to
// maxAudienceCount, written as one (no sign, fraction or exponent).
func figure(dec *json.Decoder, what string) (int, error) {
	tok, err := dec.Token()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	num, ok := tok.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s is %v, not a number", what, tok)
	}
	s := string(num)
	if len(s) > 9 || strings.ContainsAny(s, "-+.eE") {
		return 0, fmt.Errorf("%s is %s, not a whole number from 0 to %d", what, s, maxAudienceCount)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > maxAudienceCount {
		return 0, fmt.Errorf("%s is %s, not a whole number from 0 to %d", what, s, maxAudienceCount)
	}
	return n, nil
}

// unsharedNow returns how many watched topics this node left out of its
// latest count.
func (as *audiences) unsharedNow() int {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.unshared
}
