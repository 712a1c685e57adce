// Package archive takes games that are over out of the live views by
// themselves: a topic whose latest event is a final score older than the
// linger (feed.final_linger) gets an archive event, as if an operator had
// pressed "End and archive". Being an event like any other, it reaches
// every subscriber and every node of a cluster, and a client resuming
// from before it receives it in order.
package archive

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"livefeed/feed"
)

// Latest reads the latest event of every topic (handlers.History).
type Latest interface {
	Latest(ctx context.Context) ([]feed.Event, error)
}

// Due returns the events of latest that are final scores published at or
// before now less linger: the games to archive.
func Due(latest []feed.Event, now time.Time, linger time.Duration) []feed.Event {
	var due []feed.Event
	for _, e := range latest {
		if e.Type != feed.TypeScore || now.Sub(e.Time) < linger {
			continue
		}
		var d struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(e.Data, &d) == nil && d.Status == feed.StatusFinal {
			due = append(due, e)
		}
	}
	return due
}

// Sweep archives the games Due at now and returns how many it archived.
// A game that changed meanwhile is left alone (its new state counts): the
// archive is appended with AppendIf, only while the final score is still
// the game's latest event, so an operator who scores the game again, or
// another node that archived it first, makes it a no-op.
func Sweep(ctx context.Context, latest Latest, log feed.Log, now time.Time, linger time.Duration) (int, error) {
	events, err := latest.Latest(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range Due(events, now, linger) {
		_, _, err := log.AppendIf(ctx, nil, e.ID, feed.Update{Topic: e.Topic, Type: feed.TypeArchive, Data: json.RawMessage(`{}`)})
		switch {
		case errors.Is(err, feed.ErrConflict):
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, nil
}

// Run sweeps every interval until ctx ends. Failures are logged and tried
// again at the next sweep.
func Run(ctx context.Context, latest Latest, log feed.Log, linger, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n, err := Sweep(ctx, latest, log, now, linger)
			if err != nil && ctx.Err() == nil {
				logger.Warn("archiving final games failed", "err", err)
			}
			if n > 0 {
				logger.Info("archived final games", "games", n, "final_linger", linger)
			}
		}
	}
}
