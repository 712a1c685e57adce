package feed

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Topics is a log that holds at most a number of topics: an update to a
// topic the log does not hold yet is refused (ErrTopicLimit) once the
// topics it holds, with the new ones of the publishes in flight, reach
// the limit. Every topic costs a server memory for as long as it runs (its
// latest event, for the snapshot of each new subscriber, is kept encoded),
// and a topic is never removed: without a limit, a publisher could grow a
// server's memory without end by naming a new topic in every event.
//
// The topics it holds are those it has seen committed (Saw: the latest
// event of each topic at start-up, then every commit, in a cluster the
// other nodes' too) and those of its own appends that succeeded. A new
// topic is reserved while its publish is in flight, so publishes at once
// never pass the limit together; on a cluster, each node counts what it
// has applied, and publishes to several nodes at once may pass it by the
// new topics in flight between them.
type Topics struct {
	Log
	limit atomic.Int64 // 0: no limit

	mu      sync.Mutex
	known   map[string]struct{}
	pending map[string]int // new topics of appends in flight: how many each
	quotas  []*Quota       // those of SetQuotas, kept up to date
}

// A Quota bounds the topics a filter matches (those a scoped publish
// token may publish to): a publish carrying it (WithQuota) is refused a
// new topic that would make them more than its limit, wherever the
// others came from. Topics counts them while the quota is in force.
type Quota struct {
	topics        Filter
	limit         int
	held, pending int // matching topics held, and new ones in flight; under Topics.mu
}

// QuotaSpec is a quota to put in force: at most Limit of the topics
// Topics matches.
type QuotaSpec struct {
	Topics Filter
	Limit  int
}

type quotaKey struct{}

// WithQuota returns ctx carrying q: an append with it is held to q as
// well as to the limit of every topic (nil: to that alone).
func WithQuota(ctx context.Context, q *Quota) context.Context {
	if q == nil {
		return ctx
	}
	return context.WithValue(ctx, quotaKey{}, q)
}

func quotaOf(ctx context.Context) *Quota {
	q, _ := ctx.Value(quotaKey{}).(*Quota)
	return q
}

// SetQuotas puts specs in force in place of the quotas before, each
// counting the topics held and in flight from now on, and returns them
// in order. A quota no longer in force bounds nothing.
func (t *Topics) SetQuotas(specs []QuotaSpec) []*Quota {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, q := range t.quotas {
		q.limit = 0
	}
	t.quotas = make([]*Quota, len(specs))
	for i, spec := range specs {
		q := &Quota{topics: spec.Topics, limit: spec.Limit}
		for topic := range t.known {
			if q.topics.Match(topic) {
				q.held++
			}
		}
		for topic := range t.pending {
			if q.topics.Match(topic) {
				q.pending++
			}
		}
		t.quotas[i] = q
	}
	return slices.Clone(t.quotas)
}

// hold records a topic held from now on that was not in flight; settle
// one that was in flight, held (committed) or not. Both with t.mu held.
func (t *Topics) hold(topic string) {
	t.known[topic] = struct{}{}
	for _, q := range t.quotas {
		if q.topics.Match(topic) {
			q.held++
		}
	}
}

func (t *Topics) settle(topic string, held bool) {
	delete(t.pending, topic)
	if held {
		t.known[topic] = struct{}{}
	}
	for _, q := range t.quotas {
		if q.topics.Match(topic) {
			q.pending--
			if held {
				q.held++
			}
		}
	}
}

// NewTopics returns log holding at most limit topics (0: no limit).
func NewTopics(log Log, limit int) *Topics {
	t := &Topics{Log: log, known: make(map[string]struct{}), pending: make(map[string]int)}
	t.SetLimit(limit)
	return t
}

// SetLimit changes the limit (0: none). Lowered below the topics held, it
// refuses every new topic and keeps the ones held.
func (t *Topics) SetLimit(limit int) { t.limit.Store(int64(max(limit, 0))) }

// Limit returns the limit (0: none).
func (t *Topics) Limit() int { return int(t.limit.Load()) }

// Held returns how many topics the log holds.
func (t *Topics) Held() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.known)
}

// Saw records the topics of committed events.
func (t *Topics) Saw(events []Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev := ""
	for _, e := range events {
		if e.Topic == prev {
			continue
		}
		prev = e.Topic
		if _, ok := t.known[e.Topic]; ok {
			continue
		}
		if _, ok := t.pending[e.Topic]; ok {
			t.settle(e.Topic, true) // its publishes in flight need no slot now
		} else {
			t.hold(e.Topic)
		}
	}
}

// reserve takes a slot for each new topic of topics, all or none, within
// the limit and ctx's quota, and returns those it reserved (release them
// when the append is over).
func (t *Topics) reserve(ctx context.Context, topics []string) ([]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var fresh []string // new topics with no publish in flight
	var shared []string
	for _, topic := range topics {
		if _, ok := t.known[topic]; ok {
			continue
		}
		if _, ok := t.pending[topic]; ok {
			if !slices.Contains(shared, topic) {
				shared = append(shared, topic)
			}
			continue
		}
		if !slices.Contains(fresh, topic) {
			fresh = append(fresh, topic)
		}
	}
	if len(fresh) == 0 {
		for _, topic := range shared {
			t.pending[topic]++
		}
		return shared, nil
	}
	if limit := int(t.limit.Load()); limit > 0 && len(t.known)+len(t.pending)+len(fresh) > limit {
		return nil, overLimit(fresh, limit-len(t.known)-len(t.pending),
			fmt.Sprintf("this server holds as many topics as it allows (feed.max_topics: %d); publish to a topic it holds", limit),
			fmt.Sprintf("this server has room for %%d more (feed.max_topics: %d)", limit), "its operator")
	}
	if q := quotaOf(ctx); q != nil && q.limit > 0 {
		var theirs []string
		for _, topic := range fresh {
			if q.topics.Match(topic) {
				theirs = append(theirs, topic)
			}
		}
		if len(theirs) > 0 && q.held+q.pending+len(theirs) > q.limit {
			return nil, overLimit(theirs, q.limit-q.held-q.pending,
				fmt.Sprintf("this publish token's topics (%s) are as many as it may have (its max_topics: %d); publish to a topic it has", q.topics, q.limit),
				fmt.Sprintf("this publish token's topics (%s) have room for %%d more (its max_topics: %d)", q.topics, q.limit), "the server's operator")
		}
	}
	for _, topic := range fresh {
		t.pending[topic] = 1
		for _, q := range t.quotas {
			if q.topics.Match(topic) {
				q.pending++
			}
		}
	}
	for _, topic := range shared {
		t.pending[topic]++
	}
	return append(fresh, shared...), nil
}

// overLimit refuses new topics of which room fit (none, or fewer than
// all): full says why none fits, some (with a %d for room) why not all.
func overLimit(topics []string, room int, full, some, who string) error {
	if room <= 0 || len(topics) == 1 {
		return Errorf(ErrTopicLimit, "%s would be a new topic, and %s, or ask %s to raise the limit", topics[0], full, who)
	}
	named := strings.Join(topics[:min(len(topics), 3)], ", ")
	if len(topics) > 3 {
		named += ", ..."
	}
	return Errorf(ErrTopicLimit, "the publish names %d new topics (%s), and %s; publish fewer, or ask %s to raise the limit", len(topics), named, fmt.Sprintf(some, room), who)
}

// release ends the reservations of an append: the topics of committed
// events are held from now on, the others free their slot once no
// publish in flight names them.
func (t *Topics) release(reserved []string, committed []Event) {
	if len(reserved) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range committed {
		if _, ok := t.pending[e.Topic]; ok {
			t.settle(e.Topic, true)
		}
	}
	for _, topic := range reserved {
		n, ok := t.pending[topic]
		switch {
		case !ok: // held already (Saw, or committed above)
		case n <= 1:
			t.settle(topic, false)
		default:
			t.pending[topic] = n - 1
		}
	}
}

func topicsOf(updates []Update) []string {
	topics := make([]string, len(updates))
	for i, u := range updates {
		topics[i] = u.Topic
	}
	return topics
}

// Append appends updates if their new topics fit.
func (t *Topics) Append(ctx context.Context, updates []Update) ([]Event, error) {
	reserved, err := t.reserve(ctx, topicsOf(updates))
	if err != nil {
		return nil, err
	}
	events, err := t.Log.Append(ctx, updates)
	t.release(reserved, events)
	return events, err
}

// AppendOnce is Append with an idempotency key.
func (t *Topics) AppendOnce(ctx context.Context, once Idempotency, updates []Update) ([]Event, bool, error) {
	reserved, err := t.reserve(ctx, topicsOf(updates))
	if err != nil {
		return nil, false, err
	}
	events, replayed, err := t.Log.AppendOnce(ctx, once, updates)
	t.release(reserved, events)
	return events, replayed, err
}

// AppendIf is the log's AppendIf if u's topic fits.
func (t *Topics) AppendIf(ctx context.Context, once *Idempotency, latest int64, u Update) ([]Event, bool, error) {
	reserved, err := t.reserve(ctx, []string{u.Topic})
	if err != nil {
		return nil, false, err
	}
	events, replayed, err := t.Log.AppendIf(ctx, once, latest, u)
	t.release(reserved, events)
	return events, replayed, err
}

// AppendEach refuses, each alone, the updates whose new topic does not fit,
// and appends the others.
func (t *Topics) AppendEach(ctx context.Context, updates []Checked, keys []*Idempotency) []Outcome {
	var reserved []string
	var out []Outcome // made at the first refusal
	for i, c := range updates {
		r, err := t.reserve(ctx, []string{c.u.Topic})
		if err != nil {
			if out == nil {
				out = make([]Outcome, len(updates))
			}
			out[i].Err = err
			continue
		}
		reserved = append(reserved, r...)
	}
	if out == nil {
		out = t.Log.AppendEach(ctx, updates, keys)
		t.releaseOutcomes(reserved, out)
		return out
	}
	var rest []Checked
	var restKeys []*Idempotency
	var at []int // the index in updates of each of rest
	for i, c := range updates {
		if out[i].Err != nil {
			continue
		}
		rest = append(rest, c)
		at = append(at, i)
		if keys != nil {
			restKeys = append(restKeys, keys[i])
		}
	}
	if len(rest) > 0 {
		for k, o := range t.Log.AppendEach(ctx, rest, restKeys) {
			out[at[k]] = o
		}
	}
	t.releaseOutcomes(reserved, out)
	return out
}

func (t *Topics) releaseOutcomes(reserved []string, out []Outcome) {
	if len(reserved) == 0 {
		return
	}
	var committed []Event
	for _, o := range out {
		if o.Err == nil {
			committed = append(committed, o.Event)
		}
	}
	t.release(reserved, committed)
}
