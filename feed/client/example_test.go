package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"livefeed/feed"
	"livefeed/feed/client"
)

// Publish a score and follow a game: the stream starts with the latest
// event of each matching topic, then delivers live events, and resumes by
// itself after a disconnect with its last event ID. A program that
// restarts passes the ID it saved to Subscribe to miss nothing.
func Example() {
	dir, _ := os.MkdirTemp("", "livefeed-example")
	defer os.RemoveAll(dir)
	srv, err := openServer(filepath.Join(dir, "feed.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.stop()
	ctx := context.Background()

	c := client.New(srv.url(), token) // e.g. client.New("https://livefeed.example", os.Getenv("LIVEFEED_TOKEN"))
	score := func(home, away int64) feed.Update {
		data, _ := json.Marshal(feed.Score{Home: "Lakers", Away: "Celtics", HomeScore: home, AwayScore: away, Status: "live"})
		return feed.Update{Topic: "nba/2026-12-01/lal-bos", Type: feed.TypeScore, Data: data}
	}
	// The key makes a retry after a broken connection safe: the server
	// answers it with the first ID and stores nothing again.
	id, err := c.Publish(ctx, score(3, 0), "lal-bos-play-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("published", id)

	stream := c.Subscribe(ctx, []string{"nba/*"}, "")
	defer stream.Close()
	for i := range 2 {
		item, err := stream.Next() // first the current score, then what follows
		if err != nil {
			fmt.Println(err)
			return
		}
		var s feed.Score
		json.Unmarshal(item.Event.Data, &s)
		fmt.Printf("event %d: %s %d, %s %d\n", item.Event.ID, s.Home, s.HomeScore, s.Away, s.AwayScore)
		if i == 0 {
			c.Publish(ctx, score(3, 2), "lal-bos-play-2")
		}
	}
	fmt.Println("resume from", stream.LastEventID())
	// Output:
	// published 1
	// event 1: Lakers 3, Celtics 0
	// event 2: Lakers 3, Celtics 2
	// resume from 2
}

// Read the history of a prefix page by page.
func ExampleClient_History() {
	dir, _ := os.MkdirTemp("", "livefeed-example")
	defer os.RemoveAll(dir)
	srv, err := openServer(filepath.Join(dir, "feed.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.stop()
	ctx := context.Background()
	c := client.New(srv.url(), token)
	for i, symbol := range []string{"AAPL", "MSFT", "NVDA"} {
		data, _ := json.Marshal(feed.Tick{Symbol: symbol, Price: 100 + float64(i)})
		c.Publish(ctx, feed.Update{Topic: "stocks/" + symbol, Type: feed.TypeTick, Data: data}, "")
	}

	q := &client.HistoryQuery{Topics: []string{"stocks/*"}, Limit: 2}
	for q != nil {
		page, err := c.History(ctx, *q)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, e := range page.Events {
			fmt.Println(e.ID, e.Topic)
		}
		q = page.Next
	}
	// Output:
	// 1 stocks/AAPL
	// 2 stocks/MSFT
	// 3 stocks/NVDA
}
