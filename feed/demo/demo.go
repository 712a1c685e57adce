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

// Score is the data of a score event.
type Score struct {
	Home      string `json:"home"`
	Away      string `json:"away"`
	HomeScore int    `json:"home_score"`
	AwayScore int    `json:"away_score"`
	Period    int    `json:"period"`
	Clock     string `json:"clock"`
	Status    string `json:"status"`
}

// Tick is the data of a tick event.
type Tick struct {
	Symbol    string  `json:"symbol"`
	Price     float64 `json:"price"`
	Change    float64 `json:"change"`
	ChangePct float64 `json:"change_pct"`
	Volume    int64   `json:"volume"`
	Currency  string  `json:"currency"`
}

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
		g := Score{Home: "Lakers", Away: "Celtics", Period: 1, Clock: "12:00", Status: "scheduled"}
		publish(ctx, pub, GameTopic, "score", g, onError)
		g.Status = "live"
		// A quarter of 12 minutes passes in 48 plays of 15 seconds.
		for g.Period <= 4 && ctx.Err() == nil {
			for left := 12 * 60; left > 0 && ctx.Err() == nil; {
				if !sleep(ctx, time.Duration(1500+rng.IntN(1500))*time.Millisecond) {
					return
				}
				left -= 15
				g.Clock = fmt.Sprintf("%d:%02d", left/60, left%60)
				points := []int{0, 1, 2, 2, 2, 3}[rng.IntN(6)]
				if rng.IntN(2) == 0 {
					g.HomeScore += points
				} else {
					g.AwayScore += points
				}
				publish(ctx, pub, GameTopic, "score", g, onError)
			}
			g.Period++
		}
		g.Period, g.Clock, g.Status = 4, "0:00", "final"
		publish(ctx, pub, GameTopic, "score", g, onError)
		if !sleep(ctx, 10*time.Second) {
			return
		}
	}
}

func runTicker(ctx context.Context, pub Publisher, seed uint64, onError func(error)) {
	rng := rand.New(rand.NewPCG(seed, 7))
	symbols := []Tick{
		{Symbol: "AAPL", Price: 231.40}, {Symbol: "MSFT", Price: 468.10},
		{Symbol: "NVDA", Price: 142.75}, {Symbol: "TSLA", Price: 318.20},
	}
	opens := make([]float64, len(symbols))
	for i := range symbols {
		opens[i] = symbols[i].Price
		symbols[i].Currency = "USD"
	}
	for sleep(ctx, 500*time.Millisecond) {
		for i := range symbols {
			t := &symbols[i]
			t.Price = round2(math.Max(1, t.Price*(1+rng.NormFloat64()*0.0015)))
			t.Change = round2(t.Price - opens[i])
			t.ChangePct = round2(100 * t.Change / opens[i])
			t.Volume += int64(100 * (1 + rng.IntN(50)))
			publish(ctx, pub, StockPrefix+t.Symbol, "tick", *t, onError)
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
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
