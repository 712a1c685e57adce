package feed_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"livefeed/feed"
)

func TestRequest(t *testing.T) {
	tick := func(data string) feed.Update {
		return feed.Update{Topic: "stocks/AAPL", Type: "tick", Data: []byte(data)}
	}
	base := feed.Request(false, []feed.Update{tick(`{"symbol":"AAPL","price":1.5}`)})
	for _, tc := range []struct {
		name    string
		batch   bool
		updates []feed.Update
		same    bool
	}{
		{"OKSpacing", false, []feed.Update{tick(" {\n\t\"symbol\" : \"AAPL\", \"price\":1.5 }\r\n")}, true},
		{"OKSpaceInStringKept", false, []feed.Update{tick(`{"symbol":"AAPL ","price":1.5}`)}, false},
		{"ErrValue", false, []feed.Update{tick(`{"symbol":"AAPL","price":1.50}`)}, false},
		{"ErrMemberOrder", false, []feed.Update{tick(`{"price":1.5,"symbol":"AAPL"}`)}, false},
		{"ErrTopic", false, []feed.Update{{Topic: "stocks/MSFT", Type: "tick", Data: []byte(`{"symbol":"AAPL","price":1.5}`)}}, false},
		{"ErrType", false, []feed.Update{{Topic: "stocks/AAPL", Type: "note", Data: []byte(`{"symbol":"AAPL","price":1.5}`)}}, false},
		{"ErrBatchOfOne", true, []feed.Update{tick(`{"symbol":"AAPL","price":1.5}`)}, false},
		{"ErrTwo", false, []feed.Update{tick(`{"symbol":"AAPL","price":1.5}`), tick(`{}`)}, false},
		// Fields moving between topic and type cannot make the same
		// bytes.
		{"ErrShifted", false, []feed.Update{{Topic: "stocks/AAPLtick", Type: "", Data: []byte(`{"symbol":"AAPL","price":1.5}`)}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := feed.Request(tc.batch, tc.updates)
			if bytes.Equal(got, base) != tc.same {
				t.Fatalf("Request = %q, base %q: same = %v, want %v", got, base, !tc.same, tc.same)
			}
		})
	}
}

// FuzzRequest: any data gives a request, and data is the same request
// as its compact form.
func FuzzRequest(f *testing.F) {
	f.Add("a/b", "note", []byte(`{ "x" : [1, 2] }`))
	f.Add("a", "tick", []byte("not json"))
	f.Add("", "", []byte(`{"s":" a\tb "}`))
	f.Fuzz(func(t *testing.T, topic, typ string, data []byte) {
		got := feed.Request(false, []feed.Update{{Topic: topic, Type: typ, Data: data}})
		var compact bytes.Buffer
		if json.Compact(&compact, data) != nil {
			return
		}
		if again := feed.Request(false, []feed.Update{{Topic: topic, Type: typ, Data: compact.Bytes()}}); !bytes.Equal(got, again) {
			t.Fatalf("%q and its compact form %q are different requests", data, compact.Bytes())
		}
	})
}
