// Package client is the Go client of a livefeed server: publish events
// (one, or a batch, all or nothing, safe to retry with an idempotency key),
// subscribe to topics with a stream that resumes by itself from its last
// event ID, and read history page by page. It depends on livefeed's
// vocabulary (package feed) only: neither SQLite nor the server.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"livefeed/feed"
)

// Client talks to one livefeed server.
type Client struct {
	// BaseURL is the server's address, such as "http://127.0.0.1:8080".
	BaseURL string
	// Token is the publish token, sent as "Authorization: Bearer".
	Token string
	// SubscriberToken, if set, returns the subscriber token that grants
	// private topics, sent as "Authorization: Bearer" with streams,
	// history and topics. It is called before each request, so it can hand
	// out a fresh token: a stream the server ends because its token
	// expired reconnects with the next one.
	SubscriberToken func(ctx context.Context) (string, error)
	// HTTP sends the requests (default http.DefaultClient). A stream holds
	// its request open for as long as it lasts, so it must not have a
	// Timeout; use contexts instead.
	HTTP *http.Client
}

// New returns a client of the server at baseURL publishing with token.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), Token: token}
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// maxReply bounds a JSON reply read into memory: a page of history is at
// most 1,000 events.
const maxReply = 256 << 20

// Publish publishes one update and returns its event's ID, once the server
// has committed it. A key ("" for none) makes it safe to retry: the server
// answers a retry with the same key and update with the first one's ID and
// stores nothing again.
func (c *Client) Publish(ctx context.Context, u feed.Update, key string) (int64, error) {
	body, err := json.Marshal(u)
	if err != nil {
		return 0, err
	}
	var ack struct{ ID int64 }
	if _, err := c.post(ctx, body, key, &ack); err != nil {
		return 0, err
	}
	return ack.ID, nil
}

// PublishBatch publishes updates all or nothing, in one commit, and returns
// their events' IDs in order. key is as for Publish.
func (c *Client) PublishBatch(ctx context.Context, updates []feed.Update, key string) ([]int64, error) {
	ack, err := c.PublishBatchAck(ctx, updates, key)
	return ack.IDs, err
}

// BatchAck is the server's answer to a batch publish.
type BatchAck struct {
	// IDs are the events' IDs, in the order of the updates.
	IDs []int64
	// Replayed is true when the publish was a retry of one the server had
	// stored before, with the same key and updates (the reply's
	// Idempotent-Replayed header): the IDs are that publish's, and
	// nothing new was stored.
	Replayed bool
}

// PublishBatchAck is PublishBatch, also telling whether the server had
// stored the batch before: a publisher reporting what it did can tell
// events it published from a retry of what an earlier run published.
func (c *Client) PublishBatchAck(ctx context.Context, updates []feed.Update, key string) (BatchAck, error) {
	body, err := json.Marshal(updates)
	if err != nil {
		return BatchAck{}, err
	}
	var ack BatchAck
	replayed, err := c.post(ctx, body, key, &ack)
	if err != nil {
		return BatchAck{}, err
	}
	if len(ack.IDs) != len(updates) {
		return BatchAck{}, fmt.Errorf("client: %d IDs for %d updates", len(ack.IDs), len(updates))
	}
	ack.Replayed = replayed
	return ack, nil
}

// post publishes body and decodes the reply into ack; replayed says the
// server answered a retry of an earlier publish.
func (c *Client) post(ctx context.Context, body []byte, key string, ack any) (replayed bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/api/publish", bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if key != "" {
		req.Header.Set("Idempotency-Key", strconv.Quote(key))
	}
	h, err := c.doHeader(req, http.StatusCreated, ack)
	return h.Get("Idempotent-Replayed") == "true", err
}

// Heartbeat tells the server that the topics of patterns are alive
// though nothing changed (POST /api/heartbeat), so that watched ones are
// not marked stale. It returns how many watched topics it kept alive.
func (c *Client) Heartbeat(ctx context.Context, patterns ...string) (int, error) {
	body, err := json.Marshal(struct {
		Topics []string `json:"topics"`
	}{patterns})
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/api/heartbeat", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	var reply struct {
		Topics int `json:"topics"`
	}
	err = c.do(req, http.StatusOK, &reply)
	return reply.Topics, err
}

// Page is one page of history.
type Page struct {
	Events []feed.Event
	// Next is the query of the following page, nil on the last one.
	Next *HistoryQuery
}

// HistoryQuery selects events from the history, as GET /api/history's
// parameters do. The zero value is the oldest 100 events of every topic.
type HistoryQuery struct {
	Topics      []string // patterns: topics, prefixes such as "nba/*", or "*"; none for every topic
	After       int64    // only IDs above it
	Before      int64    // only IDs below it; 0 for no bound
	Limit       int      // events per page, 1 to 1000; 0 for the server's 100
	NewestFirst bool
}

func (q HistoryQuery) values() url.Values {
	v := url.Values{}
	for _, t := range q.Topics {
		v.Add("topic", t)
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.NewestFirst {
		v.Set("order", "desc")
	}
	return v
}

// History returns a page of stored events.
func (c *Client) History(ctx context.Context, q HistoryQuery) (Page, error) {
	req, err := c.get(ctx, "/api/history?"+q.values().Encode())
	if err != nil {
		return Page{}, err
	}
	var reply struct {
		Events []feed.Event
		Next   string
	}
	if err := c.do(req, http.StatusOK, &reply); err != nil {
		return Page{}, err
	}
	page := Page{Events: reply.Events}
	if reply.Next != "" && len(reply.Events) > 0 {
		next := q
		last := reply.Events[len(reply.Events)-1].ID
		if q.NewestFirst {
			next.Before = last
		} else {
			next.After = last
		}
		page.Next = &next
	}
	return page, nil
}

// Topics returns the latest event of each topic matching patterns (every
// topic with none), in topic order, asking for the server's pages of them
// one after another.
func (c *Client) Topics(ctx context.Context, patterns ...string) ([]feed.Event, error) {
	var events []feed.Event
	after := ""
	for {
		v := url.Values{"topic": patterns}
		if after != "" {
			v.Set("after", after)
		}
		req, err := c.get(ctx, "/api/topics?"+v.Encode())
		if err != nil {
			return nil, err
		}
		var reply struct {
			Topics []struct {
				Topic  string
				Latest feed.Event
			}
			Next string
		}
		if err := c.do(req, http.StatusOK, &reply); err != nil {
			return nil, err
		}
		for _, t := range reply.Topics {
			events = append(events, t.Latest)
		}
		if reply.Next == "" || len(reply.Topics) == 0 {
			return events, nil
		}
		after = reply.Topics[len(reply.Topics)-1].Topic
	}
}

// get returns a GET request of path, with the subscriber token if there
// is one.
func (c *Client) get(ctx context.Context, path string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+path, nil)
	if err != nil {
		return nil, err
	}
	if c.SubscriberToken != nil {
		t, err := c.SubscriberToken(ctx)
		if err != nil {
			return nil, fmt.Errorf("client: subscriber token: %w", err)
		}
		if t != "" {
			req.Header.Set("Authorization", "Bearer "+t)
		}
	}
	return req, nil
}

// do sends req and decodes the JSON reply into v if its status is want, or
// returns the server's error as a *feed.Error of the kind its status says.
func (c *Client) do(req *http.Request, want int, v any) error {
	_, err := c.doHeader(req, want, v)
	return err
}

// doHeader is do, also returning the reply's header (empty when there was
// no reply).
func (c *Client) doHeader(req *http.Request, want int, v any) (http.Header, error) {
	resp, err := c.http().Do(req)
	if err != nil {
		return http.Header{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return resp.Header, err
	}
	if resp.StatusCode != want {
		return resp.Header, replyError(resp, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return resp.Header, fmt.Errorf("client: %s %s: the reply is not what the API gives: %w", req.Method, req.URL.Path, err)
	}
	return resp.Header, nil
}

// replyError turns an error reply into a *feed.Error: the server's message,
// and the kind of error its status stands for (the inverse of the server's
// map from kinds to statuses).
func replyError(resp *http.Response, body []byte) error {
	var reply struct{ Error string }
	msg := resp.Status
	if json.Unmarshal(body, &reply) == nil && reply.Error != "" {
		msg = reply.Error
	}
	return &feed.Error{Kind: KindOf(resp.StatusCode), Message: msg}
}

// KindOf returns the kind of error (feed.ErrInvalid, ...) an HTTP status of
// livefeed's API stands for, read from feed's table of kinds (the server
// reads it the other way); a status of no kind, such as a proxy's 502, is
// an error that says the status.
func KindOf(status int) error {
	if kind := feed.KindOf(status); kind != nil {
		return kind
	}
	return fmt.Errorf("HTTP status %d", status)
}
