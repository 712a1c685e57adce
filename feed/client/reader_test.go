package client_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"livefeed/feed/client"
)

func readAll(t *testing.T, r io.Reader) ([]client.Message, *client.Reader) {
	t.Helper()
	rd := client.NewReader(r)
	var events []client.Message
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return events, rd
		}
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
}

// TestReader covers the cases of the WHATWG event stream interpretation.
func TestReader(t *testing.T) {
	type ev = client.Message
	for _, tc := range []struct {
		name   string
		stream string
		want   []ev
		lastID string
	}{
		{"OK", "id: 1\nevent: score\ndata: {}\n\n", []ev{{"1", "score", "{}"}}, "1"},
		{"DefaultType", "data: x\n\n", []ev{{"", "message", "x"}}, ""},
		{"MultiLineData", "data: a\ndata: b\n\n", []ev{{"", "message", "a\nb"}}, ""},
		{"CRLF", "id: 7\r\ndata: x\r\n\r\n", []ev{{"7", "message", "x"}}, "7"},
		{"CR", "id: 7\rdata: x\r\r", []ev{{"7", "message", "x"}}, "7"},
		{"NoSpace", "data:x\n\n", []ev{{"", "message", "x"}}, ""},
		{"OnlyOneSpaceStripped", "data:  x\n\n", []ev{{"", "message", " x"}}, ""},
		{"Comment", ": hello\ndata: x\n\n", []ev{{"", "message", "x"}}, ""},
		{"IDOnlySetsPosition", "id: 9\n\n", nil, "9"},
		{"IDPersists", "id: 3\ndata: a\n\ndata: b\n\n", []ev{{"3", "message", "a"}, {"3", "message", "b"}}, "3"},
		{"IDWithNULIgnored", "id: 1\n\nid: 2\x003\ndata: x\n\n", []ev{{"1", "message", "x"}}, "1"},
		{"UnterminatedDiscarded", "data: a\n\ndata: b\n", []ev{{"", "message", "a"}}, ""},
		{"BOM", "\uFEFFdata: x\n\n", []ev{{"", "message", "x"}}, ""},
		{"FieldWithoutColon", "data\n\n", []ev{{"", "message", ""}}, ""},
		{"UnknownField", "foo: bar\ndata: x\n\n", []ev{{"", "message", "x"}}, ""},
		{"EmptyDataNoEvent", "event: x\n\n", nil, ""},
		{"InvalidUTF8Replaced", "data: \xff\n\n", []ev{{"", "message", "\uFFFD"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One byte at a time too: line ends split across reads.
			for _, r := range []io.Reader{strings.NewReader(tc.stream), iotest.OneByteReader(strings.NewReader(tc.stream))} {
				got, rd := readAll(t, r)
				if len(got) != len(tc.want) {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("event %d = %q, want %q", i, got[i], tc.want[i])
					}
				}
				if rd.LastEventID() != tc.lastID {
					t.Fatalf("LastEventID = %q, want %q", rd.LastEventID(), tc.lastID)
				}
			}
		})
	}
}

func TestReaderRetryAndComments(t *testing.T) {
	_, rd := readAll(t, strings.NewReader("retry: 2500\n: hi\nretry: x\n:\n\n"))
	if rd.Retry() != 2500*time.Millisecond || rd.Comments() != 2 {
		t.Fatalf("Retry = %v, Comments = %d", rd.Retry(), rd.Comments())
	}
}
