package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"

	"livefeed/feed"
	"livefeed/feed/client"
)

// fakeServer answers batches as a server would, giving IDs from 1, and
// fails the batch that starts at the line failAt with fail.
type fakeServer struct {
	next    int64
	seen    map[string][]int64 // the IDs given for each key
	failAt  int
	fail    error
	started []int // the first line of each batch sent
}

func (f *fakeServer) send(j *job) func(context.Context, []feed.Update, string) (client.BatchAck, error) {
	return func(ctx context.Context, updates []feed.Update, key string) (client.BatchAck, error) {
		f.started = append(f.started, j.first)
		if j.first == f.failAt {
			return client.BatchAck{}, f.fail
		}
		if ids, ok := f.seen[key]; ok && key != "" {
			return client.BatchAck{IDs: ids, Replayed: true}, nil
		}
		ids := make([]int64, len(updates))
		for i := range ids {
			f.next++
			ids[i] = f.next
		}
		if f.seen == nil {
			f.seen = map[string][]int64{}
		}
		f.seen[key] = ids
		return client.BatchAck{IDs: ids}, nil
	}
}

// TestJobReport: what publish says when it stops, for each way it can
// stop, from a stream (whose end is unknown) and with keys; the ways a
// real server can be made to fail are tested end to end, against a node,
// in publish_node_test.go.
func TestJobReport(t *testing.T) {
	t.Parallel()
	lines := strings.Repeat(`{"topic":"a","type":"note","data":{}}`+"\n", 6)
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	for _, tc := range []struct {
		name   string
		input  io.Reader
		keyed  bool
		failAt int
		fail   error
		want   string
	}{
		{"ProxyError", strings.NewReader(lines), false, 3, &feed.Error{Kind: fmt.Errorf("HTTP status 502"), Message: "502 Bad Gateway"},
			"in: lines 1 to 2 published (IDs 1 to 2); lines 3 to 4 may or may not be stored: the connection failed before the server's answer (502 Bad Gateway); nothing after line 4 was sent"},
		{"Reset", strings.NewReader(lines), false, 1, reset,
			"in: lines 1 to 2 may or may not be stored: the connection failed before the server's answer (read tcp: connection reset by peer); nothing after line 2 was sent; nothing was published"},
		{"NoAnswerInTime", strings.NewReader(lines), false, 5, context.Canceled,
			"in: lines 1 to 4 published (IDs 1 to 4); lines 5 to 6 may or may not be stored: interrupted while waiting for the server's answer (context canceled); nothing after line 6 was sent"},
		{"DialWithKeys", strings.NewReader(lines), true, 3, dial,
			"in: lines 1 to 2 published (IDs 1 to 2); lines 3 to 4 may or may not be stored: the connection failed before the server's answer (dial tcp: connection refused); nothing after line 4 was sent. Run the same command again to publish the rest: what was stored is skipped"},
		{"Unavailable", strings.NewReader(lines), true, 3, &feed.Error{Kind: feed.ErrUnavailable, Message: "storage unavailable"},
			"in: lines 1 to 2 published (IDs 1 to 2); lines 3 to 4 not stored: refused by the server, one batch all or nothing (storage unavailable); nothing after line 4 was sent. Run the same command again to publish the rest: what was stored is skipped"},
		{"Invalid", strings.NewReader(lines), true, 3, &feed.Error{Kind: feed.ErrInvalid, Message: "bad"},
			"in: lines 1 to 2 published (IDs 1 to 2); lines 3 to 4 not stored: refused by the server, one batch all or nothing (bad); nothing after line 4 was sent"},
		{"ReadError", io.MultiReader(strings.NewReader(lines[:2*len(lines)/6]), iotest.ErrReader(errors.New("disk gone"))), false, 0, nil,
			"in: lines 1 to 2 published (IDs 1 to 2); reading the input after line 2: disk gone; nothing after line 2 was sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := &job{name: "in", unit: "line", size: 2, ids: io.Discard}
			srv := &fakeServer{failAt: tc.failAt, fail: tc.fail}
			j.send = srv.send(j)
			if tc.keyed {
				j.key = fileKeys("publish", "/in")
			}
			err := j.run(context.Background(), &input{r: tc.input, name: "in"}, func(r io.Reader) (reader, error) { return newNDJSONReader(r), nil })
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestJobInterruptedHolding: interrupted with lines read and not yet
// sent, publish names them: those of a stream, or the rest of a checked
// file.
func TestJobInterruptedHolding(t *testing.T) {
	t.Parallel()
	for lastPos, want := range map[int]string{
		0:  "in: lines 1 to 2 published (IDs 1 to 2); interrupted; lines 3 to 4 read and not sent, nor anything after them",
		10: "in: lines 1 to 2 published (IDs 1 to 2); interrupted; lines 3 to 10 not sent",
	} {
		j := &job{name: "in", unit: "line", size: 3, lastPos: lastPos,
			spans: []span{{first: 1, last: 2, ids: []idRange{{1, 2}}}}, done: 2,
			batch: make([]feed.Update, 2), first: 3, last: 4}
		if err := j.failed(errInterrupted); err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	}
}

// TestDescribeIDs: IDs are named as ranges, a few of them, or by their
// bounds.
func TestDescribeIDs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ids  []idRange
		want string
	}{
		{[]idRange{{5, 5}}, "ID 5"},
		{[]idRange{{5, 9}}, "IDs 5 to 9"},
		{[]idRange{{5, 9}, {12, 12}}, "IDs 5 to 9 and 12"},
		{[]idRange{{1, 2}, {4, 5}, {7, 8}}, "IDs 1 to 2, 4 to 5 and 7 to 8"},
		{[]idRange{{1, 2}, {4, 5}, {7, 8}, {10, 10}}, "IDs from 1 to 10, with other publishers' events between"},
	} {
		if got := describeIDs(tc.ids); got != tc.want {
			t.Errorf("describeIDs(%v) = %q, want %q", tc.ids, got, tc.want)
		}
	}
}
