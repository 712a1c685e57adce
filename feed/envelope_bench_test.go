package feed_test

import (
	"fmt"
	"strings"
	"testing"

	"livefeed/feed"
)

// BenchmarkParsePublish measures what every publish costs before the
// store's writer sees it: reading the body's envelope (ParsePublish) and
// validating each event (feed.ValidateBatch, as Append does):
//
//	go test -run '^$' -bench ParsePublish ./feed
func BenchmarkParsePublish(b *testing.B) {
	tick := `{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":231.42,"change":-1.25,"change_pct":-0.54,"volume":120000,"currency":"USD"}}`
	ticks := make([]string, 16)
	for i := range ticks {
		ticks[i] = strings.Replace(tick, "AAPL", fmt.Sprintf("S%02d", i), 2)
	}
	nested := `{"topic":"news/feed","type":"story","data":{"title":"Late winner","tags":["nba","lal","bos"],` +
		`"meta":{"author":{"name":"Ann Smith","id":12345},"scores":[[1,2],[3,4],[5,6]],"ok":true,"ratio":0.625,"note":"caf\u00e9 \"quoted\""},` +
		`"body":"` + strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 16) + `"}}`
	for _, bc := range []struct {
		name string
		body string
	}{
		{"score", scoreBody},
		{"tick", tick},
		{"batch=16", "[" + strings.Join(ticks, ",") + "]"},
		{"nested", nested},
	} {
		body := []byte(bc.body)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				updates, _, err := feed.ParsePublish(body)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := feed.ValidateBatch(updates); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseLine measures what each line of a streaming publish costs
// before the store: reading its envelope (ParseLine) and validating it.
func BenchmarkParseLine(b *testing.B) {
	line := []byte(`{"topic":"stocks/AAPL","type":"tick","data":{"symbol":"AAPL","price":231.42,"change":-1.25,"change_pct":-0.54,"volume":120000,"currency":"USD"},"idempotency_key":"aapl-1763751845"}`)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		u, _, err := feed.ParseLine(line)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := u.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
