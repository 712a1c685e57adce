package cluster

// Heartbeats travel between the nodes over core NATS, not through the
// stream: they take no ID and are not stored, and a lost one is made good
// by the next. The node a publisher sent one to publishes it, with its
// own time, on the cluster's heartbeat subject and applies it itself; the
// others hear it there and apply it with the same time. Event times are
// the stream's (mirror.go), so every node holds the same "last heard of"
// for each watched topic and reaches the same stale or fresh verdict.

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"livefeed/feed"
)

// The headers of a heartbeat message; its body is the body of POST
// /api/heartbeat, {"topics": [...]}, read by feed.ParseHeartbeat.
const (
	// headerBeatAt is when the sender took the heartbeat, Unix
	// milliseconds in decimal.
	headerBeatAt = "Livefeed-At"
	// headerBeatFrom is the sending node's instance (Node.self): a node
	// passes over its own heartbeats, applied when it sent them.
	headerBeatFrom = "Livefeed-From"
)

// maxHeartbeatBytes bounds a heartbeat message's body, as handlers bound
// the body of POST /api/heartbeat (feed.MaxHeartbeatPatterns patterns of
// at most 130 bytes, and room for spacing); a larger one is dropped unread.
const maxHeartbeatBytes = 32 << 10

// The pending heartbeats a node holds at most before NATS drops newer
// ones (as a slow consumer): a flood on the subject costs bounded memory.
const (
	heartbeatsPending      = 4096
	heartbeatsPendingBytes = 8 << 20
)

// heartbeatSubject is the subject of the heartbeats of the cluster whose
// stream takes prefix.>: a sibling of the prefix, "livefeed_heartbeats",
// not under it, or the stream would store every heartbeat as an event.
func heartbeatSubject(prefix string) string { return prefix + "_heartbeats" }

// Heartbeat tells every other node that the publisher of the topics of f
// was alive at at (this node's time): each applies it as this node
// applies it itself (Options.Heartbeats is not called for it). It fails,
// with nothing sent, while NATS is unreachable: a heartbeat the other
// nodes cannot hear must not keep a topic fresh on this node alone.
func (n *Node) Heartbeat(f feed.Filter, at time.Time) error {
	if !n.nc.IsConnected() {
		return feed.Errorf(feed.ErrUnavailable, "this node cannot reach the cluster's NATS now, so the other nodes would not hear the heartbeat: nothing was kept alive; try again shortly")
	}
	var patterns []string
	if f.All {
		patterns = []string{"*"}
	} else {
		patterns = append(patterns, f.Topics...)
		for _, p := range f.Prefixes {
			patterns = append(patterns, p+"*")
		}
	}
	body, err := json.Marshal(struct {
		Topics []string `json:"topics"`
	}{patterns})
	if err != nil {
		return err
	}
	m := nats.NewMsg(heartbeatSubject(n.prefix))
	m.Header.Set(headerBeatAt, strconv.FormatInt(at.UnixMilli(), 10))
	m.Header.Set(headerBeatFrom, n.self)
	m.Data = body
	if err := n.nc.PublishMsg(m); err != nil {
		n.log.Warn("a heartbeat could not be sent to the other nodes", "err", err)
		return feed.Errorf(feed.ErrUnavailable, "this node could not send the heartbeat to the other nodes: nothing was kept alive; try again shortly")
	}
	return nil
}

// subscribeHeartbeats hands the heartbeats of the other nodes to
// Options.Heartbeats until the connection closes. NATS subscribes again
// by itself after a reconnect.
func (n *Node) subscribeHeartbeats() error {
	take := n.opts.Heartbeats
	sub, err := n.nc.Subscribe(heartbeatSubject(n.prefix), func(m *nats.Msg) {
		if m.Header.Get(headerBeatFrom) == n.self {
			return // applied when it was sent
		}
		f, at, err := parseHeartbeat(m.Header.Get(headerBeatAt), m.Data, time.Now())
		if err != nil {
			n.droppedHeartbeat(err)
			return
		}
		take(f, at)
	})
	if err != nil {
		n.beatsDone = nil // nothing to wait for
		return fmt.Errorf("cluster: subscribe to the heartbeats (%s): %w", heartbeatSubject(n.prefix), err)
	}
	// The last callback has returned when the subscription's closed
	// handler runs: Close waits for it, so that no heartbeat reaches the
	// hub after the node closed.
	sub.SetClosedHandler(func(string) { close(n.beatsDone) })
	if err := sub.SetPendingLimits(heartbeatsPending, heartbeatsPendingBytes); err != nil {
		return err
	}
	return nil
}

// parseHeartbeat reads a heartbeat message of another node: at, its
// sender's time (headerBeatAt), and body, its patterns. The message comes
// from the NATS network and is read as untrusted input. A time ahead of
// now (the sender's clock is ahead of this node's) is taken as now: a
// node whose clock is hours ahead cannot keep a topic fresh for hours.
func parseHeartbeat(at string, body []byte, now time.Time) (feed.Filter, time.Time, error) {
	if len(body) > maxHeartbeatBytes {
		return feed.Filter{}, time.Time{}, fmt.Errorf("a heartbeat of %d bytes (at most %d)", len(body), maxHeartbeatBytes)
	}
	// At most 15 digits: Unix milliseconds until the year 33658, and
	// ParseInt alone would take a sign.
	if at == "" || len(at) > 15 || at[0] < '0' || at[0] > '9' {
		return feed.Filter{}, time.Time{}, fmt.Errorf("a heartbeat whose %s header is %q, not Unix milliseconds", headerBeatAt, at)
	}
	ms, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return feed.Filter{}, time.Time{}, fmt.Errorf("a heartbeat whose %s header is %q, not Unix milliseconds", headerBeatAt, at)
	}
	f, err := feed.ParseHeartbeat(body)
	if err != nil {
		return feed.Filter{}, time.Time{}, err
	}
	t := time.UnixMilli(ms)
	if t.After(now) {
		t = now
	}
	return f, t, nil
}

// droppedHeartbeat counts a malformed heartbeat, dropped, and logs it, at
// most once a second: a flood of them on the subject must not flood the
// log.
func (n *Node) droppedHeartbeat(err error) {
	dropped := n.badBeats.Add(1)
	if _, due := n.badBeatLog.Due(time.Second); !due {
		return
	}
	n.log.Warn("dropped a malformed heartbeat from the NATS network", "subject", heartbeatSubject(n.prefix), "err", err, "dropped", dropped)
}
