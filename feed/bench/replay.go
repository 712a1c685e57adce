package bench

import (
	"context"
	"fmt"
	"time"
)

// runReplayStorm measures W5: many clients resume at once, each a backlog
// of events behind, while live subscribers of another topic keep receiving.
func runReplayStorm(ctx context.Context, r *runner, p Params) (Figures, error) {
	stormTopic, liveTopic := r.topic("-storm"), r.topic("-live")

	// The backlog the clients will have missed, published in batches.
	r.progress("publishing %d events to %s", p.Backlog, stormTopic)
	pub := NewPublisher(r.target, 0, p.Payload, stormTopic)
	after := int64(-1)
	for pub.Seq < int64(p.Backlog) {
		first, _, err := pub.Publish(ctx, min(1000, p.Backlog-int(pub.Seq)))
		if err != nil {
			pub.Close()
			return nil, fmt.Errorf("publishing the backlog: %w", err)
		}
		if after < 0 {
			after = first - 1
		}
	}
	pub.Close()

	r.progress("connecting %d live subscribers to %s", p.Live, liveTopic)
	live, err := StartAudience(ctx, r.target, AudienceOptions{
		Topic: liveTopic, Subscribers: p.Live, FirstN: p.Subscribers, Publishers: 1, ReadBuffer: readBuffer(p.Live),
	})
	if err != nil {
		return nil, err
	}
	liveCtx, stopLive := context.WithCancel(ctx)
	liveDone := make(chan *PublishResult, 1)

	r.progress("%d clients reconnect at once with Last-Event-ID %d; live publisher at %g events/s", p.Subscribers, after, p.Rate)
	before := r.sample()
	go func() {
		liveDone <- RunPublishers(liveCtx, r.target, PublishPlan{Topic: liveTopic, Publishers: 1, Rate: p.Rate, Duration: 24 * time.Hour, Payload: p.Payload, Sent: live.Sent()})
	}()
	storm, err := StartAudience(ctx, r.target, AudienceOptions{
		Topic: stormTopic, Subscribers: p.Subscribers, Resume: true, After: after, Publishers: 1,
		ReadBuffer: readBuffer(p.Subscribers), NoWait: true, NoLatency: true,
	})
	if err != nil {
		stopLive()
		<-liveDone
		live.Stop()
		return nil, err
	}
	expected := int64(p.Backlog) * int64(p.Subscribers)
	complete := storm.WaitDeliveries(ctx, expected, r.cfg.Drain)
	afterStorm := r.sample()
	stormTally := storm.Stop()
	stopLive()
	liveRes := <-liveDone
	liveExpected := liveRes.Total() * int64(p.Live)
	live.WaitDeliveries(ctx, liveExpected, r.cfg.Drain)
	liveTally := live.Stop()
	if !complete {
		r.progress("stopped waiting: %d of %d replayed events arrived", stormTally.Deliveries, expected)
	}

	var f Figures
	f.Add("clients", float64(p.Subscribers))
	f.Add("backlog", float64(p.Backlog))
	f.Add("publish_errors", float64(pub.Errors))
	addTally(&f, "", stormTally, expected)
	if stormTally.Deliveries > 0 {
		replay := stormTally.LastReceipt.Sub(before.at)
		f.Add("replay_s", replay.Seconds())
		f.Add("replay_events_per_s", float64(stormTally.Deliveries)/replay.Seconds())
	}
	addCosts(&f, before, afterStorm, "delivery", stormTally.Deliveries+liveTally.Deliveries)
	f.Add("live_subscribers", float64(p.Live))
	f.Add("live_publish_errors", float64(liveRes.Errors))
	f.Add("live_published", float64(liveRes.Total()))
	addTally(&f, "live_", liveTally, liveExpected)
	addLatency(&f, "live_", live.Latency(0), liveTally.MaxLatency)
	return f, nil
}
