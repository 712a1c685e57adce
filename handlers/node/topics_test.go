package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"livefeed/feed"
	"livefeed/feed/poll"
	"livefeed/handlers/config"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
)

// publishRaw posts body to /api/publish with the test token and returns
// the status and the reply.
func publishRaw(t *testing.T, base, contentType, body string) (int, string) {
	t.Helper()
	return publishWith(t, base, nodetest.Token, contentType, body)
}

// publishWith is publishRaw with the publish token tok.
func publishWith(t *testing.T, base, tok, contentType, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// storedTopics lists the topics n's database holds, in order.
func storedTopics(t *testing.T, n *nodetest.Node) []string {
	t.Helper()
	latest, err := n.Store().Latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var topics []string
	for _, e := range latest {
		topics = append(topics, e.Topic)
	}
	slices.Sort(topics)
	return topics
}

// TestTopicLimit: a node at feed.max_topics refuses an event to a new
// topic with 507 and stores nothing of its request, a streaming publish's
// line alone; the topics held go on; the count holds across a restart
// (read from the database), and a reload raises the limit.
func TestTopicLimit(t *testing.T) {
	t.Parallel()
	cfg := nodetest.Config(t)
	cfg.Feed.MaxTopics = 3
	n := nodetest.Start(t, cfg, node.Options{})
	nodetest.MustPublish(t, n.URL, "["+nodetest.Note("a", 1)+","+nodetest.Note("b", 1)+"]")
	nodetest.MustPublish(t, n.URL, nodetest.Note("c", 1))

	status, reply := publishRaw(t, n.URL, "application/json", nodetest.Note("d", 1))
	if status != 507 || !strings.Contains(reply, "d would be a new topic") || !strings.Contains(reply, "feed.max_topics: 3") {
		t.Fatalf("a fourth topic: %d %s", status, reply)
	}
	status, reply = publishRaw(t, n.URL, "application/json", "["+nodetest.Note("a", 2)+","+nodetest.Note("e", 1)+"]")
	if status != 507 {
		t.Fatalf("a batch naming a new topic: %d %s", status, reply)
	}
	if _, err := nodetest.Publish(nil, n.URL, nodetest.Note("d", 1)); !errors.Is(err, feed.ErrTopicLimit) {
		t.Fatalf("the Go client: %v, want the topic limit", err)
	}
	// A streaming publish: the line to a new topic is refused alone.
	status, reply = publishRaw(t, n.URL, "application/x-ndjson", nodetest.Note("a", 3)+"\n"+nodetest.Note("x", 1)+"\n"+nodetest.Note("b", 3)+"\n")
	lines := strings.Split(strings.TrimSpace(reply), "\n")
	if status != 200 || len(lines) != 3 || !strings.HasPrefix(lines[0], `{"id":`) || !strings.HasPrefix(lines[1], `{"line":2,"status":507,`) || !strings.HasPrefix(lines[2], `{"id":`) {
		t.Fatalf("a streaming publish: %d %q", status, lines)
	}
	if got := storedTopics(t, n); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("stored topics %q, want a, b, c", got)
	}
	for name, want := range map[string]string{
		"livefeed_topics":       "3",
		"livefeed_topics_limit": "3",
		`livefeed_publish_failures_total{reason="topic_limit"}`: "3", // requests; the streaming publish was answered 200
	} {
		if got := metric(t, n.URL, name); got != want {
			t.Errorf("%s = %q, want %s", name, got, want)
		}
	}

	if log := n.Log.String(); !strings.Contains(log, "publish refused: a new topic") || strings.Contains(log, "request failed") || strings.Contains(log, "lines failed") {
		t.Fatalf("the refusals are the publishers' doing, logged as notices, not as the server's failures:\n%s", log)
	}

	if err := n.Restart(nil); err != nil {
		t.Fatal(err)
	}
	if got := metric(t, n.URL, "livefeed_topics"); got != "3" {
		t.Fatalf("after a restart, livefeed_topics = %q, want 3 (from the database)", got)
	}
	if !strings.Contains(n.Log.String(), `the database holds as many topics as feed.max_topics allows, or more: events to new topics are refused until it is raised" topics=3 max_topics=3`) {
		t.Fatalf("the start at the limit is not logged:\n%s", n.Log.String())
	}
	if status, reply := publishRaw(t, n.URL, "application/json", nodetest.Note("d", 1)); status != 507 {
		t.Fatalf("a fourth topic after a restart: %d %s", status, reply)
	}
	nodetest.MustPublish(t, n.URL, nodetest.Note("c", 2))

	cfg.Feed.MaxTopics = 4
	n.Reload(cfg, config.Given{"feed.max_topics": true})
	nodetest.MustPublish(t, n.URL, nodetest.Note("d", 1))
	if status, _ := publishRaw(t, n.URL, "application/json", nodetest.Note("e", 1)); status != 507 {
		t.Fatalf("a fifth topic over the reloaded limit of 4: %d", status)
	}
	if got := metric(t, n.URL, "livefeed_topics_limit"); got != "4" {
		t.Fatalf("livefeed_topics_limit = %q after the reload", got)
	}
	if !strings.Contains(n.Log.String(), "feed.max_topics") {
		t.Fatalf("the reload's log does not name feed.max_topics:\n%s", n.Log.String())
	}
}

// TestTopicLimitCluster: a cluster's node counts the topics the others
// took toward its limit, from the log it applies.
func TestTopicLimitCluster(t *testing.T) {
	t.Parallel()
	natsURL := nodetest.StartNATS(t)
	start := func(name string) *nodetest.Node {
		cfg := nodetest.Config(t)
		cfg.Cluster.NATSURLs = []string{natsURL}
		cfg.Cluster.Node = name
		cfg.Feed.MaxTopics = 2
		return nodetest.Start(t, cfg, node.Options{})
	}
	a, b := start("a"), start("b")
	nodetest.MustPublish(t, a.URL, "["+nodetest.Note("p", 1)+","+nodetest.Note("q", 1)+"]")
	poll.Until(t, "node b holds the topics node a took", func() bool { return metric(t, b.URL, "livefeed_topics") == "2" })
	status, reply := publishRaw(t, b.URL, "application/json", nodetest.Note("r", 1))
	if status != 507 {
		t.Fatalf("a third topic through node b: %d %s", status, reply)
	}
	var answer struct{ ID int64 }
	if status, reply := publishRaw(t, b.URL, "application/json", nodetest.Note("q", 2)); status != 201 || json.Unmarshal([]byte(reply), &answer) != nil || answer.ID != 3 {
		t.Fatalf("a topic held, through node b: %d %s", status, reply)
	}
}

// TestTopicLimitPerToken: a scoped publish token's max_topics bounds the
// topics its patterns hold, whoever made them, in a publish and a
// streaming publish's line; the other tokens' topics go on; a reload
// applies a new bound.
func TestTopicLimitPerToken(t *testing.T) {
	t.Parallel()
	const partner = "nodetest-partner-token-0123456789"
	cfg := nodetest.Config(t)
	cfg.Auth.PublishTokens = append(cfg.Auth.PublishTokens, config.PublishToken{Token: partner, Topics: []string{"partner/*"}, MaxTopics: 2})
	n := nodetest.Start(t, cfg, node.Options{})
	publish := func(tok, contentType, body string) (int, string) {
		t.Helper()
		return publishWith(t, n.URL, tok, contentType, body)
	}
	for _, topic := range []string{"partner/a", "partner/b", "partner/a"} {
		if status, reply := publish(partner, "application/json", nodetest.Note(topic, 1)); status != 201 {
			t.Fatalf("%s: %d %s", topic, status, reply)
		}
	}
	status, reply := publish(partner, "application/json", nodetest.Note("partner/c", 1))
	if status != 507 || !strings.Contains(reply, "this publish token's topics (partner/*) are as many as it may have (its max_topics: 2)") {
		t.Fatalf("the partner's third topic: %d %s", status, reply)
	}
	// The operator's token: only the server's limit.
	if status, reply := publish(nodetest.Token, "application/json", "["+nodetest.Note("partner/z", 1)+","+nodetest.Note("other", 1)+"]"); status != 201 {
		t.Fatalf("another token: %d %s", status, reply)
	}
	status, reply = publish(partner, "application/x-ndjson", nodetest.Note("partner/z", 2)+"\n"+nodetest.Note("partner/d", 1)+"\n")
	lines := strings.Split(strings.TrimSpace(reply), "\n")
	if status != 200 || len(lines) != 2 || !strings.HasPrefix(lines[0], `{"id":`) || !strings.HasPrefix(lines[1], `{"line":2,"status":507,`) {
		t.Fatalf("the partner's streaming publish: %d %q", status, lines)
	}
	if got := storedTopics(t, n); !slices.Equal(got, []string{"other", "partner/a", "partner/b", "partner/z"}) {
		t.Fatalf("stored topics %q", got)
	}

	cfg.Auth.PublishTokens[1].MaxTopics = 4
	n.Reload(cfg, config.Given{"auth.publish_tokens": true})
	if status, reply := publish(partner, "application/json", nodetest.Note("partner/c", 1)); status != 201 {
		t.Fatalf("after the reload raised it to 4: %d %s", status, reply)
	}
	if status, _ := publish(partner, "application/json", nodetest.Note("partner/d", 1)); status != 507 {
		t.Fatalf("a fifth topic of partner/* over 4: %d", status)
	}
}
