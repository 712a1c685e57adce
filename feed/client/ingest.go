package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"livefeed/feed"
)

// Ingest is a streaming publish: events sent one a line on one request
// (Content-Type application/x-ndjson), each acknowledged on the response
// once committed, in the order sent, while more are on their way. A feed
// gateway keeps thousands of events in flight this way, where Publish
// waits for each.
//
// Send and Flush are for one goroutine, Recv for another (or the same, in
// turns): the server reads ahead only as far as its commits allow, so a
// sender that never receives stops once the acknowledgements fill the
// connection.
type Ingest struct {
	pw   *io.PipeWriter
	bw   *bufio.Writer
	line []byte

	// The server's answer, set once answered is closed: its response and
	// a reader of it, or why there is none.
	answered chan struct{}
	resp     *http.Response
	br       *bufio.Reader
	err      error
}

// Ack is the server's answer to one line of an Ingest, in the order of
// the lines: the ID of its event, or why it was refused (Err, a
// *feed.Error; Line is its line number, counting from 1). A refused line
// does not end the stream; an Err with Line 0 is the stream's own end
// (its body could not be read).
type Ack struct {
	ID   int64
	Line int
	Err  error
	// Heartbeat is set for the answer to a heartbeat line
	// (SendHeartbeat), Topics to the watched topics it kept alive.
	Heartbeat bool
	Topics    int
}

// Ingest opens a streaming publish. It returns at once, without waiting
// for the server's answer: whether the server accepted the stream (its
// token, above all) is told by the first Recv, and a refused stream's
// Send or Flush fails. For a proxy may pass the answer on only with the
// first acknowledgement (nginx does over HTTP/2), which comes only once a
// line was sent. End the stream with CloseSend, then read the rest of
// the acknowledgements, or with Close.
func (c *Client) Ingest(ctx context.Context) (*Ingest, error) {
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/api/publish", pr)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	in := &Ingest{pw: pw, bw: bufio.NewWriterSize(pw, 64<<10), answered: make(chan struct{})}
	go func() {
		defer close(in.answered)
		// Until the server answers, ctx ending ends the body too: the
		// transport waits for the body's end before it gives up.
		stop := context.AfterFunc(ctx, func() { pr.CloseWithError(ctx.Err()) })
		resp, err := c.http().Do(req)
		stop()
		if err != nil && ctx.Err() != nil {
			// However the transport put it (the body's end, or ctx).
			err = fmt.Errorf("client: the stream was not answered: %w", ctx.Err())
		}
		if err == nil && resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			err = replyError(resp, body)
		}
		if err != nil {
			pr.CloseWithError(err) // Send and Flush fail with it
			in.err = err
			return
		}
		in.resp, in.br = resp, bufio.NewReaderSize(resp.Body, 64<<10)
	}()
	return in, nil
}

// Send queues one update, with an idempotency key of its own ("" for
// none) that makes it safe to send again on another stream after this one
// broke. It is sent when the buffer fills or at Flush.
func (in *Ingest) Send(u feed.Update, key string) error {
	b := append(in.line[:0], `{"topic":`...)
	b = appendJSONString(b, u.Topic)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, u.Type)
	b = append(b, `,"data":`...)
	if bytes.ContainsAny(u.Data, "\r\n") {
		// A line break in the data would end the line: compact it.
		var buf bytes.Buffer
		if err := json.Compact(&buf, u.Data); err != nil {
			return fmt.Errorf("client: the data is not JSON: %w", err)
		}
		b = append(b, buf.Bytes()...)
	} else {
		b = append(b, u.Data...)
	}
	if key != "" {
		b = append(b, `,"idempotency_key":`...)
		b = appendJSONString(b, key)
	}
	b = append(b, "}\n"...)
	in.line = b
	_, err := in.bw.Write(b)
	return err
}

// SendHeartbeat queues a heartbeat for the topics of patterns (see
// Client.Heartbeat): its Ack, in its turn, has Heartbeat set.
func (in *Ingest) SendHeartbeat(patterns ...string) error {
	b := append(in.line[:0], `{"heartbeat":[`...)
	for i, p := range patterns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, p)
	}
	b = append(b, "]}\n"...)
	in.line = b
	_, err := in.bw.Write(b)
	return err
}

// Flush sends the queued updates.
func (in *Ingest) Flush() error { return in.bw.Flush() }

// CloseSend sends the queued updates and ends the stream's body: the
// server answers the lines it has, then ends the response (Recv returns
// io.EOF).
func (in *Ingest) CloseSend() error {
	err := in.bw.Flush()
	return errors.Join(err, in.pw.Close())
}

// Recv returns the acknowledgement of the next line, waiting for it, and
// io.EOF once the server has answered every line of a stream ended with
// CloseSend. The server's refusal of the whole stream is the first
// Recv's error.
func (in *Ingest) Recv() (Ack, error) {
	<-in.answered
	if in.err != nil {
		return Ack{}, in.err
	}
	line, err := in.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return Ack{}, io.EOF
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Ack{}, err
	}
	if rest, ok := bytes.CutPrefix(line, []byte(`{"id":`)); ok {
		if digits, ok := bytes.CutSuffix(rest, []byte("}\n")); ok {
			if id, err := strconv.ParseInt(string(digits), 10, 64); err == nil {
				return Ack{ID: id}, nil
			}
		}
	}
	var a struct {
		Topics *int   `json:"topics"`
		ID     int64  `json:"id"`
		Line   int    `json:"line"`
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(line, &a); err != nil {
		return Ack{}, fmt.Errorf("client: an acknowledgement is not what the API gives: %q", line)
	}
	if a.Error != "" {
		return Ack{Line: a.Line, Err: &feed.Error{Kind: KindOf(a.Status), Message: a.Error}}, nil
	}
	if a.Topics != nil {
		return Ack{Heartbeat: true, Topics: *a.Topics}, nil
	}
	return Ack{ID: a.ID}, nil
}

// Close ends the stream at once, sent or not.
func (in *Ingest) Close() error {
	in.pw.CloseWithError(errors.New("client: the stream was closed"))
	<-in.answered // the request ends with its body
	if in.resp == nil {
		return nil
	}
	return in.resp.Body.Close()
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
