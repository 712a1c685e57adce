// Package demo simulates a live basketball game and a few ticking stock
// symbols, so that a newcomer running `livefeed -demo` sees the feed move at
// once. It publishes through the same path as the API.
package demo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"livefeed/feed"
)

// Publisher publishes one event; the server passes its own publish path.
type Publisher interface {
	Publish(ctx context.Context, topic, typ string, data any) error
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(ctx context.Context, topic, typ string, data any) error

// Publish calls f.
func (f PublisherFunc) Publish(ctx context.Context, topic, typ string, data any) error {
	return f(ctx, topic, typ, data)
}

// Topics the simulation publishes to.
const (
	GameTopic   = "nba/demo/lal-bos"
	StockPrefix = "stocks/"
)

// Run publishes until ctx ends: a scoring play every couple of seconds and a
// price tick per symbol every half second. Publish errors are reported to
// onError and the simulation carries on.
func Run(ctx context.Context, pub Publisher, onError func(error)) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 42))
	go runTicker(ctx, pub, rng.Uint64(), onError)
	runGame(ctx, pub, rng, onError)
}

func runGame(ctx context.Context, pub Publisher, rng *rand.Rand, onError func(error)) {
	for ctx.Err() == nil {
		g := feed.Score{Home: "Lakers", Away: "Celtics", Period: 1, Clock: "12:00", Status: "scheduled",
			HomeAbbr: "LAL", AwayAbbr: "BOS", HomeColor: "#552583", AwayColor: "#007A33"}
		publish(ctx, pub, GameTopic, feed.TypeScore, g, onError)
		g.Status = "live"
		// A quarter of 12 minutes passes in 48 plays of 15 seconds.
		for period := 1; period <= 4 && ctx.Err() == nil; period++ {
			g.Period = period
			for left := 12 * 60; left > 0 && ctx.Err() == nil; {
				if !sleep(ctx, time.Duration(1500+rng.IntN(1500))*time.Millisecond) {
					return
				}
				left -= 15
				g.Clock = fmt.Sprintf("%d:%02d", left/60, left%60)
				points := []int64{0, 1, 2, 2, 2, 3}[rng.IntN(6)]
				if rng.IntN(2) == 0 {
					g.HomeScore += points
				} else {
					g.AwayScore += points
				}
				publish(ctx, pub, GameTopic, feed.TypeScore, g, onError)
			}
		}
		g.Period, g.Clock, g.Status = 4, "0:00", "final"
		publish(ctx, pub, GameTopic, feed.TypeScore, g, onError)
		if !sleep(ctx, 10*time.Second) {
			return
		}
	}
}

func runTicker(ctx context.Context, pub Publisher, seed uint64, onError func(error)) {
	rng := rand.New(rand.NewPCG(seed, 7))
	type symbol struct {
		name        string
		open, price float64
		volume      int64
	}
	symbols := []symbol{{name: "AAPL", open: 231.40}, {name: "MSFT", open: 468.10}, {name: "NVDA", open: 142.75}, {name: "TSLA", open: 318.20}}
	for i := range symbols {
		symbols[i].price = symbols[i].open
	}
	for sleep(ctx, 500*time.Millisecond) {
		for i := range symbols {
			s := &symbols[i]
			s.price = round2(math.Max(1, s.price*(1+rng.NormFloat64()*0.0015)))
			s.volume += int64(100 * (1 + rng.IntN(50)))
			change := round2(s.price - s.open)
			pct := round2(100 * change / s.open)
			volume := s.volume
			t := feed.Tick{Symbol: s.name, Price: s.price, Change: &change, ChangePct: &pct, Volume: &volume, Currency: "USD"}
			publish(ctx, pub, StockPrefix+s.name, feed.TypeTick, t, onError)
		}
	}
}

func publish(ctx context.Context, pub Publisher, topic, typ string, data any, onError func(error)) {
	if err := pub.Publish(ctx, topic, typ, data); err != nil && ctx.Err() == nil && onError != nil {
		onError(fmt.Errorf("demo: publish %s: %w", topic, err))
	}
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// sleep waits d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool { return feed.Sleep(ctx, d) == nil }
