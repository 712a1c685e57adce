package cli

import (
	"context"
	"io"
	"strings"
	"testing"

	"livefeed/feed"
	"livefeed/feed/client"
)

// FuzzImportRows: any file given to livefeed import, and any NDJSON given
// to livefeed publish, is read without a panic, and what is sent is only
// events that pass the server's validation, in batches of the size asked.
func FuzzImportRows(f *testing.F) {
	header := strings.Join(feed.CSVColumns, ",")
	f.Add(header + "\r\n1,2026-01-01T00:00:00.000Z,nba/x,score,'=A,B,1,2,OT,,live,,,,,,,\"{\"\"x\"\":1}\",ann\r\n")
	f.Add(header + "\r\n1,t,stocks/X,tick,,,,,,,,X,1.5,-1,,10,USD,,\r\n2,t,misc,note,,,,,,,,,,,,,,\"{\"\"a\"\":[1]}\",\r\n")
	f.Add(header + "\r\n1,t,misc,note,,,,,,,,,,,,,,not json,\r\n")
	f.Add(header + "\r\n1,t,misc,note,,,,,,,,,,,,,,{}\r\n") // a row of the export before the operator column
	f.Add("topic,home,away,start\n\"")                      // a quote that never closes (found by fuzzing)
	f.Add("topic,home,away,start\r\nnba/a,A,B,2026-12-03T00:30:00Z\r\nnba/b,\"C, D\",E,2026-12-03T00:30:00+01:00\r\n")
	f.Add("\ufefftopic,home,away,start\nnba/a,A,B,x\n")
	f.Add(`{"topic":"a","type":"note","data":{}}` + "\n[1]\n")
	f.Fuzz(func(t *testing.T, text string) {
		for _, open := range []func(io.Reader) (reader, error){
			func(r io.Reader) (reader, error) { return newCSVReader(r) },
			func(r io.Reader) (reader, error) { return newNDJSONReader(r), nil },
		} {
			sent := 0
			j := &job{name: "fuzz", unit: "line", size: 2, ids: io.Discard, send: func(_ context.Context, updates []feed.Update, key string) (client.BatchAck, error) {
				if len(updates) == 0 || len(updates) > 2 || key != "" {
					t.Fatalf("a batch of %d with key %q", len(updates), key)
				}
				if _, err := feed.ValidateBatch(updates); err != nil {
					t.Fatalf("sent an event the server refuses: %v", err)
				}
				ids := make([]int64, len(updates))
				for i := range ids {
					sent++
					ids[i] = int64(sent)
				}
				return client.BatchAck{IDs: ids}, nil
			}}
			err := j.run(context.Background(), &input{r: strings.NewReader(text), name: "fuzz"}, open)
			if err == nil && sent > 0 && !strings.Contains(j.summary(), "published (ID") {
				t.Fatalf("%d events sent, and the summary is %q", sent, j.summary())
			}
			if err != nil && sent == 0 && !strings.HasSuffix(err.Error(), "nothing was published") {
				t.Fatalf("nothing sent, and the error is %q", err)
			}
		}
	})
}
