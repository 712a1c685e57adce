package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"livefeed/feed"
)

// unreadSizes are W10's event sizes: web/docs/performance.md's 250 B and 1 MB.
var unreadSizes = []struct {
	name    string
	payload int
	events  int // enough to fill every stuck socket: the server's send buffer grows to 4 MiB
}{
	{"250b", 250, 24_000},
	{"1mb", 1 << 20, 30},
}

// runUnread measures W10: subscribers that never read cost the server
// little memory beyond the shared window, and no goroutine each, whatever
// the size of the events that fill their sockets.
func runUnread(ctx context.Context, r *runner, p Params) (Figures, error) {
	if r.server == nil {
		return nil, errors.New("W10 measures the server's memory: give its PID with -pid")
	}
	var f Figures
	f.Add("subscribers", float64(p.Subscribers))
	for _, size := range unreadSizes {
		if err := r.unread(ctx, &f, p.Subscribers, size.name, size.payload, size.events); err != nil {
			return nil, fmt.Errorf("events of %s: %w", size.name, err)
		}
	}
	return f, nil
}

func (r *runner) unread(ctx context.Context, f *Figures, subscribers int, name string, payload, events int) error {
	topic := r.topic("-" + name)
	// Publishing grows the server's memory by itself: the window fills,
	// and the Go heap grows to about twice what is live. So the window is
	// filled first, with the same events on another topic, until it holds
	// no more, and as many again are published: from then on publishing
	// replaces events in the window instead of adding them, and the
	// figure is what the subscribers cost.
	r.progress("filling the window with events of %d bytes", payload)
	if err := r.fillWindow(ctx, topic+"-warmup", payload, events); err != nil {
		return err
	}
	r.settledRSS(ctx)
	before, err := r.serverState(ctx)
	if err != nil {
		return err
	}
	r.progress("%d subscribers of %s that read their position and then nothing", subscribers, topic)
	conns := make([]net.Conn, 0, subscribers)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range subscribers {
		conn, err := r.target.Dial(ctx, i, stuckReceiveBuffer)
		if err != nil {
			return err
		}
		conns = append(conns, conn)
		sc, err := OpenStream(conn, r.target.eventsRequest(topic, "", false, 0), 4<<10)
		if err != nil {
			return err
		}
		for {
			fr, err := sc.Next()
			if err != nil {
				return fmt.Errorf("subscriber %d: %w", i, err)
			}
			if string(fr.Event) == feed.EventPosition {
				break // the end of the snapshot: attached
			}
		}
	}
	r.progress("publishing %d events of %d bytes", events, payload)
	if err := r.publishSized(ctx, topic, payload, events); err != nil {
		return err
	}
	// Let the writers fill every socket they can, then read the settled
	// figures.
	time.Sleep(2 * time.Second)
	rss, _ := r.settledRSS(ctx)
	after, err := r.serverState(ctx)
	if err != nil {
		return err
	}
	after.rss = rss
	if open := after.subscribers - before.subscribers; open != float64(subscribers) {
		// Say why, from the server's own count of the closes: the
		// window, the write timeout, or something else.
		var why []string
		for reason, hint := range map[string]string{
			"lag":           "fell out of the window: it is too small for the events (raise feed.window_bytes)",
			"write_timeout": "accepted nothing for feed.write_timeout: the run took longer than it (a loaded machine?)",
			"shutdown":      "the server shut down",
			"client":        "closed by the client's side",
		} {
			if n := after.closed[reason] - before.closed[reason]; n > 0 {
				why = append(why, fmt.Sprintf("%g %s", n, hint))
			}
		}
		if len(why) == 0 {
			why = append(why, "no close counted by the server")
		}
		slices.Sort(why)
		return fmt.Errorf("%g of the %d stuck subscribers are still open: %s", open, subscribers, strings.Join(why, "; "))
	}
	window := after.windowBytes - before.windowBytes
	f.Add(name+"_window_growth_mb", window/(1<<20))
	f.Add(name+"_server_rss_growth_mb", float64(after.rss-before.rss)/1024)
	f.Add(name+"_kb_per_subscriber_beyond_window", (float64(after.rss-before.rss)*1024-window)/1024/float64(subscribers))
	f.Add(name+"_goroutines_per_subscriber", (after.goroutines-before.goroutines)/float64(subscribers))
	f.Add(name+"_stalls", after.stalls-before.stalls)
	return nil
}

// fillWindow publishes events of payload bytes to topic until the server's
// window holds no more (neither livefeed_window_events nor
// livefeed_window_bytes grows), then extra more.
func (r *runner) fillWindow(ctx context.Context, topic string, payload, extra int) error {
	chunk := max(1, extra/4)
	var events, bytes float64
	for {
		if err := r.publishSized(ctx, topic, payload, chunk); err != nil {
			return err
		}
		m, err := r.target.Metrics(ctx)
		if err != nil {
			return err
		}
		e, b := m["livefeed_window_events"], m["livefeed_window_bytes"]
		if e <= events && b <= bytes {
			break
		}
		events, bytes = e, b
	}
	return r.publishSized(ctx, topic, payload, extra)
}

// publishSized publishes events of payload bytes to topic, in requests of
// at most 512 KiB.
func (r *runner) publishSized(ctx context.Context, topic string, payload, events int) error {
	perRequest := max(1, min(1000, (512<<10)/payload))
	pub := NewPublisher(r.target, 0, payload, topic)
	pub.blob = true // W10 is about sizes, up to 1 MB: no tick is
	defer pub.Close()
	for sent := 0; sent < events; {
		n := min(perRequest, events-sent)
		if _, _, err := pub.Publish(ctx, n); err != nil {
			return err
		}
		sent += n
	}
	return nil
}

// serverState is what the server reports of itself that W10 and W11
// compare before and after.
type serverState struct {
	rss                     int64 // KiB
	subscribers, goroutines float64
	windowBytes, stalls     float64
	closed                  map[string]float64 // streams closed, by reason
}

func (r *runner) serverState(ctx context.Context) (serverState, error) {
	var st serverState
	if r.server != nil {
		rss, err := r.server.RSS()
		if err != nil {
			return st, err
		}
		st.rss = rss
	}
	m, err := r.target.Metrics(ctx)
	if err != nil {
		return st, err
	}
	st.subscribers = m["livefeed_subscribers"]
	st.goroutines = m["go_goroutines"]
	st.windowBytes = m["livefeed_window_bytes"]
	st.stalls = m["livefeed_subscriber_stalls_total"]
	st.closed = make(map[string]float64)
	for _, reason := range []string{"lag", "write_timeout", "shutdown", "client"} {
		st.closed[reason] = m[`livefeed_streams_closed_total{reason="`+reason+`"}`]
	}
	return st, nil
}

// runSoak measures W11: streams held for a long time by clients that read,
// with an event a second, are never closed by the server, receive every
// event once and in order, and the server's memory stays flat.
func runSoak(ctx context.Context, r *runner, p Params) (Figures, error) {
	topic := r.topic("")
	r.progress("connecting %d subscribers to %s", p.Subscribers, topic)
	before, err := r.serverState(ctx)
	if err != nil {
		return nil, err
	}
	aud, err := StartAudience(ctx, r.target, AudienceOptions{Topic: topic, Subscribers: p.Subscribers, Publishers: p.Publishers, ReadBuffer: 16 << 10})
	if err != nil {
		return nil, err
	}
	defer aud.Stop()
	connected, err := r.serverState(ctx)
	if err != nil {
		return nil, err
	}
	r.progress("holding them for %s with %g events/s", p.Duration, p.Rate)
	peak := r.samplePeakRSS(time.Second)
	res := RunPublishers(ctx, r.target, PublishPlan{Topic: topic, Publishers: p.Publishers, Rate: p.Rate, Duration: p.Duration, Payload: p.Payload, Sent: aud.Sent()})
	expected := res.Total() * int64(p.Subscribers)
	aud.WaitDeliveries(ctx, expected, r.cfg.Drain)
	peakRSS := peak()
	after, err := r.serverState(ctx)
	if err != nil {
		return nil, err
	}
	tally := aud.Stop()
	if err := res.Failed(); err != nil {
		return nil, err
	}
	var f Figures
	f.Add("subscribers", float64(p.Subscribers))
	f.Add("held_s", p.Duration.Seconds())
	f.Add("published", float64(res.Total()))
	f.Add("publish_errors", float64(res.Errors))
	addTally(&f, "", tally, expected)
	addLatency(&f, "", aud.Latency(0), tally.MaxLatency)
	var serverClosed float64
	for _, reason := range []string{"lag", "write_timeout", "shutdown"} {
		serverClosed += after.closed[reason] - before.closed[reason]
	}
	f.Add("server_disconnects", serverClosed)
	if r.server != nil {
		f.Add("server_rss_growth_mb", float64(after.rss-connected.rss)/1024)
		f.Add("server_rss_peak_growth_mb", float64(peakRSS-connected.rss)/1024)
	}
	return f, nil
}
