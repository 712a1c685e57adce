package bench

import (
	"context"
	"fmt"
	"time"

	"livefeed/feed"
)

// runConflated measures W15: conflated tickers. Three phases on one
// server: W1's broadcast as the baseline of CPU per delivery (10
// subscribers for each of W15's), the ticker without conflation to a
// tenth of the subscribers (what each would be sent), then the ticker with
// conflate= to all of them.
func runConflated(ctx context.Context, r *runner, p Params) (Figures, error) {
	var f Figures
	base := Params{Subscribers: 10 * p.Subscribers, Publishers: 1, Rate: 10, Duration: min(p.Duration, 10*time.Second), Payload: p.Payload}
	r.progress("baseline: W1 with %d subscribers", base.Subscribers)
	if err := r.broadcast(ctx, &f, "w1_", r.target, r.server, base); err != nil {
		return nil, err
	}
	unconflated := max(p.Subscribers/10, 1)
	if err := r.ticker(ctx, &f, "unconflated_", unconflated, "", p); err != nil {
		return nil, err
	}
	if err := r.ticker(ctx, &f, "", p.Subscribers, "&conflate="+feed.FormatDuration(p.Conflate), p); err != nil {
		return nil, err
	}
	if cpu, ok := f.Get("server_cpu_us_per_delivery"); ok {
		if w1, ok := f.Get("w1_server_cpu_us_per_delivery"); ok && w1 > 0 {
			f.Add("server_cpu_us_per_delivery_ratio_to_w1", cpu/w1)
		}
	}
	if b, ok := f.Get("bytes_per_subscriber"); ok {
		if u, ok := f.Get("unconflated_bytes_per_subscriber"); ok && u > 0 {
			f.Add("bytes_ratio_to_unconflated", b/u)
		}
	}
	return f, nil
}

// ticker runs one phase of W15 against the server: n subscribers of a
// ticker of p.Publishers symbols (a publisher each, p.Rate ticks a second
// in all) with query added to their streams, and adds its figures with
// prefix.
func (r *runner) ticker(ctx context.Context, f *Figures, prefix string, n int, query string, p Params) error {
	conflated := query != ""
	symbols := r.topic(map[bool]string{true: "-conflated", false: "-unconflated"}[conflated])
	perSymbol := int(p.Rate/float64(p.Publishers)*p.Duration.Seconds()+0.5) + 1
	sent := NewSentLog(p.Publishers, perSymbol)
	r.progress("%s%d subscribers of %s/* (%d symbols, %g ticks/s)%s", prefix, n, symbols, p.Publishers, p.Rate, query)
	aud, err := StartAudience(ctx, r.target, AudienceOptions{
		Topic: symbols + "/*", Subscribers: n, Publishers: p.Publishers, ReadBuffer: readBuffer(n),
		Query: query, Conflated: conflated, Sent: sent, NoLatency: conflated,
	})
	if err != nil {
		return err
	}
	before := r.sample()
	res := RunPublishers(ctx, r.target, PublishPlan{Topic: symbols, Publishers: p.Publishers, Rate: p.Rate, Duration: p.Duration,
		Payload: p.Payload, TopicPerPublisher: true, Sent: sent})
	if err := res.Failed(); err != nil {
		aud.Stop()
		return err
	}
	// The end: every subscriber's view of every symbol is its last tick
	// (conflated, the last of each arrives within an interval).
	expected := res.Total() * int64(n)
	if conflated {
		current := func() bool {
			for i := range aud.Len() {
				if !aud.Subscriber(i).HasLast(res.Published) {
					return false
				}
			}
			return true
		}
		deadline := time.Now().Add(r.cfg.Drain)
		for !current() && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond) // polling the subscribers' counts
		}
	} else {
		aud.WaitDeliveries(ctx, expected, r.cfg.Drain)
	}
	after := r.sample()
	stale := 0
	for i := range aud.Len() {
		if conflated && !aud.Subscriber(i).HasLast(res.Published) {
			stale++
		}
	}
	tally := aud.Stop()
	f.Add(prefix+"subscribers", float64(n))
	f.Add(prefix+"published", float64(res.Total()))
	f.Add(prefix+"publish_errors", float64(res.Errors))
	f.Add(prefix+"deliveries", float64(tally.Deliveries))
	f.Add(prefix+"duplicates", float64(tally.Duplicates))
	f.Add(prefix+"order_violations", float64(tally.OrderViolations))
	f.Add(prefix+"reconnects", float64(tally.Reconnects))
	f.Add(prefix+"bytes_per_subscriber", float64(tally.Bytes)/float64(n))
	if conflated {
		f.Add(prefix+"subscribers_not_current_at_end", float64(stale))
		st := aud.Staleness()
		f.AddMS(prefix+"staleness_p50_ms", st.Quantile(0.5))
		f.AddMS(prefix+"staleness_p99_ms", st.Quantile(0.99))
		f.AddMS(prefix+"staleness_max_ms", st.Quantile(1))
		f.Add(prefix+"delivered_per_published", float64(tally.Deliveries)/float64(max(expected, 1)))
	} else {
		f.Add(prefix+"missing", float64(max(expected-tally.Deliveries, 0)))
		f.Add(prefix+"gaps", float64(tally.Gaps))
	}
	addCostsPrefixed(f, prefix, before, after, "delivery", tally.Deliveries)
	return nil
}

// HasLast reports whether the subscriber has received event last[p] of
// every publisher p that published (or a later one). Only a Conflated
// subscriber keeps what it needs to tell; any other reports false.
func (s *Subscriber) HasLast(last []int64) bool {
	for p, seq := range last {
		if seq > 0 && (p >= len(s.seen) || s.seen[p].Load() < seq) {
			return false
		}
	}
	return true
}

// runDelayed measures W16: a delayed audience. The baseline of CPU per
// delivery is W1's broadcast to as many subscribers on a topic that is not
// delayed; then the same number subscribe to a topic of the server's
// delayed tier, and one publisher publishes to it.
func runDelayed(ctx context.Context, r *runner, p Params) (Figures, error) {
	var f Figures
	base := Params{Subscribers: p.Subscribers, Publishers: 1, Rate: 10, Duration: min(p.Duration, 10*time.Second), Payload: p.Payload}
	r.progress("baseline: W1 with %d subscribers", base.Subscribers)
	// On a topic outside bench/w16/*, which the server delays.
	baseline := *r
	baseline.name = r.name + "-baseline"
	if err := baseline.broadcast(ctx, &f, "w1_", r.target, r.server, base); err != nil {
		return nil, err
	}
	topic := r.topic("")
	before, err := r.serverState(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading /metrics (go_goroutines): %w", err)
	}
	r.progress("connecting %d subscribers to %s, delayed by %s", p.Subscribers, topic, p.Delay)
	// Latencies are recorded less the delay: the error, at the
	// histogram's resolution of an error's size rather than a delay's.
	aud, err := StartAudience(ctx, r.target, AudienceOptions{Topic: topic, Subscribers: p.Subscribers, Publishers: p.Publishers, ReadBuffer: readBuffer(p.Subscribers), Expected: p.Delay})
	if err != nil {
		return nil, err
	}
	connected, err := r.serverState(ctx)
	if err != nil {
		aud.Stop()
		return nil, err
	}
	r.progress("publishing %g events/s for %s; the first arrive %s later", p.Rate, p.Duration, p.Delay)
	start := r.sample()
	res := RunPublishers(ctx, r.target, PublishPlan{Topic: topic, Publishers: p.Publishers, Rate: p.Rate, Duration: p.Duration, Payload: p.Payload, Sent: aud.Sent()})
	if err := res.Failed(); err != nil {
		aud.Stop()
		return nil, err
	}
	expected := res.Total() * int64(p.Subscribers)
	aud.WaitDeliveries(ctx, expected, p.Delay+r.cfg.Drain)
	end := r.sample()
	tally := aud.Stop()
	if tally.Delayed < int64(p.Subscribers) {
		return nil, fmt.Errorf("%d of %d streams of %s were not delayed: configure the server with a delayed tier of the load tool's topics, [[feed.delayed]] topics = [\"bench/w16/*\"] delay = %q", int64(p.Subscribers)-tally.Delayed, p.Subscribers, topic, p.Delay.String())
	}
	f.Add("subscribers", float64(p.Subscribers))
	f.Add("published", float64(res.Total()))
	f.Add("publish_errors", float64(res.Errors))
	addTally(&f, "", tally, expected)
	errs := aud.Latency(0) // an early event is recorded as 0: see the minimum
	f.AddMS("delay_ms", p.Delay)
	f.AddMS("delay_error_p50_ms", errs.Quantile(0.5))
	f.AddMS("delay_error_p99_ms", errs.Quantile(0.99))
	f.AddMS("delay_error_max_ms", tally.MaxLatency)
	f.AddMS("delay_error_min_ms", tally.MinLatency) // below -1 ms: an event arrived early
	f.Add("goroutines_per_subscriber", (connected.goroutines-before.goroutines)/float64(p.Subscribers))
	addCostsPrefixed(&f, "", start, end, "delivery", tally.Deliveries)
	if cpu, ok := f.Get("server_cpu_us_per_delivery"); ok {
		if w1, ok := f.Get("w1_server_cpu_us_per_delivery"); ok && w1 > 0 {
			f.Add("server_cpu_us_per_delivery_ratio_to_w1", cpu/w1)
		}
	}
	return f, nil
}
