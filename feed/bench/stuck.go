package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"livefeed/feed"
)

// stuckReceiveBuffer is the stuck subscriber's SO_RCVBUF: small, so the
// server's side of its connection fills up quickly (Linux doubles the value
// and enforces a minimum, so its window is a few KiB).
const stuckReceiveBuffer = 4 << 10

// runStuck measures W8: one subscriber that stops reading among many that
// read, then its resume.
func runStuck(ctx context.Context, r *runner, p Params) (Figures, error) {
	topic := r.topic("")
	r.progress("connecting %d subscribers to %s", p.Subscribers, topic)
	// Publisher 0 publishes phase A, publisher 1 phase B: their events'
	// latencies go to groups 0 and 1.
	aud, err := StartAudience(ctx, r.target, AudienceOptions{
		Topic: topic, Subscribers: p.Subscribers, Publishers: 2, Groups: 2,
		Group: func(pub int) int { return pub }, ReadBuffer: readBuffer(p.Subscribers),
	})
	if err != nil {
		return nil, err
	}
	defer aud.Stop()
	plan := PublishPlan{Topic: topic, Publishers: 1, Rate: p.Rate, Duration: p.Duration, Payload: p.Payload, Sent: aud.Sent()}

	r.progress("phase A: %g events/s for %s, every subscriber reading", p.Rate, p.Duration)
	resA := RunPublishers(ctx, r.target, plan)
	if err := resA.Failed(); err != nil {
		return nil, err
	}
	aud.WaitDeliveries(ctx, resA.Total()*int64(p.Subscribers), r.cfg.Drain)

	// The stuck subscriber reads its response headers and position frame,
	// then nothing.
	conn, err := r.target.Dial(ctx, p.Subscribers, stuckReceiveBuffer)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	sc, err := OpenStream(conn, r.target.eventsRequest(topic, "", false, 0), 4<<10)
	if err != nil {
		return nil, err
	}
	position := int64(-1)
	for attached := false; !attached; {
		fr, err := sc.Next()
		if err != nil {
			return nil, fmt.Errorf("stuck subscriber: %w", err)
		}
		if fr.HasID {
			position = fr.ID
		}
		attached = string(fr.Event) == feed.EventPosition // the end of the snapshot
	}

	r.progress("phase B: the same for %s with one subscriber (position %d) not reading", p.Duration, position)
	startB := r.sample()
	peakRSS := r.samplePeakRSS(50 * time.Millisecond)
	plan.FirstIndex = 1
	resB := RunPublishers(ctx, r.target, plan)
	expected := (resA.Total() + resB.Total()) * int64(p.Subscribers)
	aud.WaitDeliveries(ctx, expected, r.cfg.Drain)
	peak := peakRSS()
	endB := r.sample()
	serverSide, seen := r.serverSocket(conn.LocalAddr().String(), conn.RemoteAddr().String())
	conn.Close()
	tally := aud.Stop()

	// The stuck subscriber comes back with the last ID it read and must
	// get every event of phase B, once each, in order.
	r.progress("the stuck subscriber resumes after %d", position)
	resumer := NewSubscriber(r.target, SubscriberOptions{
		Topic: topic, N: p.Subscribers + 1, Resume: true, After: position, Publishers: 2,
	})
	resumed := make(chan Tally, 1)
	go func() { resumed <- resumer.Run(ctx) }()
	waitUntil(ctx, func() bool { return resumer.Deliveries() >= resB.Total() }, r.cfg.Drain)
	resumer.Stop()
	resume := <-resumed

	var f Figures
	f.Add("subscribers", float64(p.Subscribers))
	f.Add("published", float64(resA.Total()+resB.Total()))
	f.Add("publish_errors", float64(resA.Errors+resB.Errors))
	addTally(&f, "", tally, expected)
	p99A, p99B := aud.Latency(0).Quantile(0.99), aud.Latency(1).Quantile(0.99)
	f.AddMS("others_p50_a_ms", aud.Latency(0).Quantile(0.5))
	f.AddMS("others_p50_b_ms", aud.Latency(1).Quantile(0.5))
	f.AddMS("others_p99_a_ms", p99A)
	f.AddMS("others_p99_b_ms", p99B)
	if p99A > 0 {
		f.Add("others_p99_change_pct", (float64(p99B)/float64(p99A)-1)*100)
	}
	if startB.ok {
		f.Add("stuck_rss_growth_mb", float64(peak-startB.serverRSS)/1024)
		f.Add("server_rss_after_b_mb", float64(endB.serverRSS)/1024)
	}
	if seen {
		disconnected := 0.0
		if serverSide.State != "ESTABLISHED" {
			disconnected = 1
		}
		f.Add("stuck_disconnected", disconnected)
		f.Add("stuck_server_send_queue_kb", float64(serverSide.SendQueue)/1024)
	} else if r.target.Loopback() {
		f.Add("stuck_disconnected", 1) // the server's side of the socket is gone
	}
	f.Add("stuck_resume_deliveries", float64(resume.Deliveries))
	f.Add("stuck_resume_expected", float64(resB.Total()))
	f.Add("stuck_resume_missing", float64(max(resB.Total()-resume.Deliveries, 0)))
	f.Add("stuck_resume_duplicates", float64(resume.Duplicates))
	f.Add("stuck_resume_order_violations", float64(resume.OrderViolations))
	f.Add("stuck_resume_gaps", float64(resume.Gaps))
	return f, nil
}

// serverSocket finds the server's side of a connection in /proc/net/tcp:
// the socket whose local address is the client's remote one and whose
// remote address is the client's local one.
func (r *runner) serverSocket(clientLocal, clientRemote string) (Socket, bool) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return Socket{}, false
	}
	socks, err := ParseTCPTable(string(b))
	if err != nil {
		return Socket{}, false
	}
	for _, s := range socks {
		if s.Local == clientRemote && s.Remote == clientLocal {
			return s, true
		}
	}
	return Socket{}, false
}

// waitUntil polls cond every 2 ms until it holds, ctx ends, or timeout.
func waitUntil(ctx context.Context, cond func() bool, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}
