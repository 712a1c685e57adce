package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Audience is many subscribers of one topic, connected together and
// tallied together.
type Audience struct {
	subs      []*Subscriber
	sent      *SentLog
	latency   [][]Histogram // [group][shard]
	staleness []Histogram   // [shard], of conflated subscribers
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu      sync.Mutex
	tally   Tally
	failed  atomic.Int64
	lastErr error
}

// AudienceOptions configure an Audience.
type AudienceOptions struct {
	Topic string
	// TopicOf, if set, gives subscriber i its own topic instead.
	TopicOf     func(i int) string
	Subscribers int
	// FirstN is added to each subscriber's number, which picks its source
	// address; audiences of one workload use different ranges.
	FirstN int
	// Resume and After: every subscriber's first connect sends
	// Last-Event-ID: After.
	Resume bool
	After  int64
	// Publishers is the number of symbols to track (see
	// SubscriberOptions).
	Publishers int
	// Group maps a symbol to the latency group its events are recorded in
	// (nil: all in group 0), so that phases of a workload can be told
	// apart by their publisher (whose index is its symbol's).
	Group func(publisher int) int
	// Groups is the number of latency groups (default 1).
	Groups int
	// NoLatency records no latencies (replayed events were published long
	// before they are received).
	NoLatency bool
	// Expected is the subscribers' (see SubscriberOptions).
	Expected time.Duration
	// ReadBuffer is each subscriber's read buffer.
	ReadBuffer int
	// Batch, if positive, connects this many subscribers and waits until
	// the server has attached them all before connecting the next batch.
	Batch int
	// Connecting bounds the handshakes in flight (default 256), so the
	// server's listen backlog does not overflow into SYN retries.
	Connecting int
	// NoWait returns as soon as every subscriber is started, without
	// waiting until they are attached (for a storm of reconnects).
	NoWait bool
	// Query, Conflated and ByMinute are the subscribers' (see
	// SubscriberOptions); their staleness is merged in Staleness.
	Query     string
	Conflated bool
	ByMinute  *Minutes
	// Sent is where the publishers record when they sent each event (see
	// SentLog). Unless NoLatency, the audience makes one if it is nil,
	// remembering the last sentLogDefault sends of each symbol: give it
	// to the publishers (PublishPlan.Sent = Audience.Sent()).
	Sent *SentLog
}

// latencyShards spreads the subscribers' latency records over several
// histograms, so that two cores rarely add to the same counters.
const latencyShards = 16

// StartAudience starts the subscribers and returns once the server has
// attached every one of them (unless NoWait). It fails if one could not
// connect.
func StartAudience(ctx context.Context, t *Target, o AudienceOptions) (*Audience, error) {
	o.Groups = max(o.Groups, 1)
	if o.Group == nil {
		o.Group = func(int) int { return 0 }
	}
	if o.Connecting <= 0 {
		o.Connecting = 256
	}
	if o.Batch <= 0 {
		o.Batch = o.Subscribers
	}
	if o.Sent == nil && !o.NoLatency {
		o.Sent = NewSentLog(o.Publishers, sentLogDefault)
	}
	a := &Audience{sent: o.Sent, latency: make([][]Histogram, o.Groups), staleness: make([]Histogram, latencyShards)}
	for g := range a.latency {
		a.latency[g] = make([]Histogram, latencyShards)
	}
	a.ctx, a.cancel = context.WithCancel(ctx)
	for i := range o.Subscribers {
		lat := make([]*Histogram, o.Publishers)
		for p := range lat {
			if !o.NoLatency {
				lat[p] = &a.latency[o.Group(p)][i%latencyShards]
			}
		}
		topic := o.Topic
		if o.TopicOf != nil {
			topic = o.TopicOf(i)
		}
		a.subs = append(a.subs, NewSubscriber(t, SubscriberOptions{
			Topic:      topic,
			N:          o.FirstN + i,
			Resume:     o.Resume,
			After:      o.After,
			Publishers: o.Publishers,
			Latency:    lat,
			Expected:   o.Expected,
			ReadBuffer: o.ReadBuffer,
			Query:      o.Query,
			Conflated:  o.Conflated,
			Sent:       o.Sent,
			ByMinute:   o.ByMinute,
			Staleness:  &a.staleness[i%latencyShards],
		}))
	}
	for start := 0; start < len(a.subs); start += o.Batch {
		batch := a.subs[start:min(start+o.Batch, len(a.subs))]
		for i, s := range batch {
			if i >= o.Connecting && !o.NoWait {
				<-batch[i-o.Connecting].Ready()
			}
			a.wg.Go(func() {
				t := s.Run(a.ctx)
				a.mu.Lock()
				a.tally.Add(t)
				if s.Err() != nil {
					a.failed.Add(1)
					a.lastErr = s.Err()
				}
				a.mu.Unlock()
			})
		}
		if o.NoWait {
			continue
		}
		for _, s := range batch {
			select {
			case <-s.Ready():
			case <-ctx.Done():
				a.Stop()
				return nil, ctx.Err()
			}
		}
		if n := a.failed.Load(); n > 0 {
			a.Stop()
			a.mu.Lock()
			defer a.mu.Unlock()
			return nil, fmt.Errorf("%d of %d subscribers could not connect: %w", n, o.Subscribers, a.lastErr)
		}
	}
	return a, nil
}

// Sent returns the log the publishers are to record their sends in, for
// the subscribers' latencies (nil with NoLatency).
func (a *Audience) Sent() *SentLog { return a.sent }

// Len returns the number of subscribers.
func (a *Audience) Len() int { return len(a.subs) }

// Subscriber returns subscriber i.
func (a *Audience) Subscriber(i int) *Subscriber { return a.subs[i] }

// Deliveries returns the events received so far by all subscribers.
func (a *Audience) Deliveries() int64 {
	var n int64
	for _, s := range a.subs {
		n += s.Deliveries()
	}
	return n
}

// WaitDeliveries polls until the subscribers have received want events in
// all, or until timeout passes without any new delivery. It returns when
// the last of them arrived... as far as polling every 2 ms can tell.
func (a *Audience) WaitDeliveries(ctx context.Context, want int64, timeout time.Duration) bool {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	last, progress := a.Deliveries(), time.Now()
	for last < want {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
		if n := a.Deliveries(); n != last {
			last, progress = n, time.Now()
		} else if time.Since(progress) > timeout {
			return false
		}
	}
	return true
}

// Stop closes every stream and returns the merged tally.
func (a *Audience) Stop() Tally {
	for _, s := range a.subs {
		s.Stop()
	}
	a.cancel()
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tally
}

// Staleness returns how stale the conflated subscribers' views were (see
// SubscriberOptions.Conflated), merged.
func (a *Audience) Staleness() *Histogram {
	var h Histogram
	for i := range a.staleness {
		h.Merge(&a.staleness[i])
	}
	return &h
}

// Latency returns the receipt latencies of a group, merged.
func (a *Audience) Latency(group int) *Histogram {
	var h Histogram
	for i := range a.latency[group] {
		h.Merge(&a.latency[group][i])
	}
	return &h
}
