package node_test

import (
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// TestPublishReceiveExactFrame publishes through the API and reads the event
// stream's bytes from a raw socket.
func TestPublishReceiveExactFrame(t *testing.T) {
	t.Parallel()
	cfg := nodetest.Config(t)
	cfg.Feed.Heartbeat = config.Default().Feed.Heartbeat // no heartbeat between the stream's start and the frame
	n := nodetest.Start(t, cfg, node.Options{})
	c, br := nodetest.Stream(t, n.URL, "/events?topic=nba/*")
	want := "retry: 2000\n: livefeed event stream\n\nid: 0\nevent: livefeed.position\ndata: {\"last_id\":0}\n\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
		t.Fatalf("stream start %q, %v; want %q", got, err, want)
	}
	ids := nodetest.MustPublish(t, n.URL, `{"topic":"nba/lal-bos","type":"score","data":{"home":"Lakers","away":"Celtics","home_score":3,"away_score":0,"period":1,"clock":"11:32","status":"live"}}`)
	if !slices.Equal(ids, []int64{1}) {
		t.Fatalf("ids %v", ids)
	}
	frame := regexp.MustCompile(`^id: 1\nevent: score\ndata: \{"id":1,"topic":"nba/lal-bos","type":"score","time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)","data":\{"home":"Lakers","away":"Celtics","home_score":3,"away_score":0,"period":1,"clock":"11:32","status":"live"\}\}\n\n$`)
	var buf bytes.Buffer
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !strings.HasSuffix(buf.String(), "\n\n") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", buf.String(), err)
		}
		buf.WriteString(line)
	}
	m := frame.FindStringSubmatch(buf.String())
	if m == nil {
		t.Fatalf("frame %q does not match the contract", buf.String())
	}
	if ts, err := time.Parse(feed.TimeLayout, m[1]); err != nil || time.Since(ts) > time.Minute || time.Since(ts) < 0 {
		t.Fatalf("event time %s is not the server's current time", m[1])
	}
}

func TestResetOnBadPosition(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Config(t), node.Options{})
	nodetest.MustPublish(t, n.URL, nodetest.Note("a", 1))
	for _, tc := range []struct{ header, query, reason string }{
		{"Last-Event-ID: abc", "", "invalid"},
		{"Last-Event-ID: -5", "", "invalid"},
		{"", "&lastEventId=1e3", "invalid"},
		{"Last-Event-ID: 99999999999999999999", "", "invalid"},
		{"Last-Event-ID: 500", "", "ahead"},
	} {
		t.Run(tc.reason+tc.header+tc.query, func(t *testing.T) {
			var headers []string
			if tc.header != "" {
				headers = append(headers, tc.header)
			}
			_, br := nodetest.Stream(t, n.URL, "/events?topic=a"+tc.query, headers...)
			rd := client.NewReader(br)
			ev, err := rd.Next()
			if err != nil || ev.Type != "reset" || !strings.Contains(ev.Data, `"reason":"`+tc.reason+`"`) {
				t.Fatalf("first event %+v, %v; want a reset (%s)", ev, err, tc.reason)
			}
			if ev, err := nodetest.NextEvent(rd); err != nil || ev.ID != "1" {
				t.Fatalf("snapshot event %+v, %v", ev, err)
			}
		})
	}
}

// TestLastEventIDQuery resumes with the lastEventId query parameter, for
// clients that cannot set headers; the header wins when both are present.
func TestLastEventIDQuery(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Config(t), node.Options{})
	for i := range 5 {
		nodetest.MustPublish(t, n.URL, nodetest.Note("a", i))
	}
	_, br := nodetest.Stream(t, n.URL, "/events?topic=a&lastEventId=3")
	if ev, err := client.NewReader(br).Next(); err != nil || ev.ID != "4" {
		t.Fatalf("query position: %+v, %v", ev, err)
	}
	_, br = nodetest.Stream(t, n.URL, "/events?topic=a&lastEventId=1", "Last-Event-ID: 4")
	if ev, err := client.NewReader(br).Next(); err != nil || ev.ID != "5" {
		t.Fatalf("header position: %+v, %v", ev, err)
	}
}

// TestPublishCannotInjectFrames: whatever text a publisher puts in an
// event's data, subscribers read exactly one event with the server's ID and
// the publisher's type and data (CWE-93).
func TestPublishCannotInjectFrames(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Config(t), node.Options{})
	c, br := nodetest.Stream(t, n.URL, "/events?topic=a", "Last-Event-ID: 0")
	evil := "x\n\nid: 999\nevent: reset\ndata: {\"reason\":\"pwned\"}\n\r\r\n: comment\u2028\u2029\u0000"
	body, _ := json.Marshal(map[string]any{"topic": "a", "type": "note", "data": map[string]string{"text": evil, "event: x": "\n"}})
	ids := nodetest.MustPublish(t, n.URL, string(body))
	nodetest.MustPublish(t, n.URL, nodetest.Note("a", 1))
	rd := client.NewReader(br)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i, want := range ids {
		ev, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Data map[string]string
		}
		if ev.ID != strconv.FormatInt(want, 10) || ev.Type != "note" || json.Unmarshal([]byte(ev.Data), &env) != nil || env.Data["text"] != evil {
			t.Fatalf("event %d read as %+v", i, ev)
		}
	}
	if ev, err := rd.Next(); err != nil || ev.ID != strconv.FormatInt(ids[0]+1, 10) {
		t.Fatalf("the next event read as %+v, %v", ev, err)
	}
}
