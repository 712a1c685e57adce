package feed_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"livefeed/feed"
)

func TestValidateTopic(t *testing.T) {
	for _, tc := range []struct {
		name  string
		topic string
		ok    bool
	}{
		{"OK", "nba/2026-11-21/lal-bos", true},
		{"OKStock", "stocks/AAPL", true},
		{"OKDots", "fx/EUR.USD", true},
		{"OKOneSegment", "x", true},
		{"OKMaxLength", strings.Repeat("a", 128), true},
		{"ErrEmpty", "", false},
		{"ErrTooLong", strings.Repeat("a", 129), false},
		{"ErrLeadingSlash", "/nba", false},
		{"ErrTrailingSlash", "nba/", false},
		{"ErrDoubleSlash", "nba//x", false},
		{"ErrSpace", "nba lal", false},
		{"ErrStar", "nba/*", false},
		{"ErrNewline", "nba\nid: 9", false},
		{"ErrNUL", "nba\x00", false},
		{"ErrUnicode", "nba/été", false},
		{"ErrQuery", "nba?x=1", false},
		{"ErrDot", "nba/./x", false},
		{"ErrDotDot", "nba/../admin", false},
		{"ErrDotDotFirst", "..", false},
		{"ErrDotLast", "nba/.", false},
		{"OKDotsInSegment", "a/.../b", true},
		{"OKDotPrefix", "a/.hidden/..x", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := feed.ValidateTopic(tc.topic)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateTopic(%q) = %v, want ok=%v", tc.topic, err, tc.ok)
			}
			if err != nil && !errors.Is(err, feed.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
		})
	}
}

// TestValidateTopicMessage: the error shows the character a user typed,
// not the first byte of its UTF-8 encoding read as Latin-1 ('Ã' for 'é').
func TestValidateTopicMessage(t *testing.T) {
	for _, tc := range []struct{ topic, want string }{
		{"nba/été", `character 'é' is not allowed`},
		{"stocks/\u20ac", `character '€' is not allowed`},
		{"a/\U0001F3C0", `character '🏀' is not allowed`},
		{"a/\xff", `byte 0xff (not UTF-8) is not allowed`},
		{"nba/../x", `has the segment ".."`},
	} {
		err := feed.ValidateTopic(tc.topic)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidateTopic(%q) = %v, want %q", tc.topic, err, tc.want)
		}
	}
}

func TestValidateType(t *testing.T) {
	for _, tc := range []struct {
		typ string
		ok  bool
	}{
		{"score", true},
		{"tick", true},
		{"goal_2", true},
		{"a", true},
		{"x" + strings.Repeat("y", 31), true},
		{"", false},
		{"x" + strings.Repeat("y", 32), false},
		{"Score", false},
		{"1score", false},
		{"_x", false},
		{"sc ore", false},
		{"score\ndata: x", false},
		{"reset", false},
		{"error", false},
		{"open", false},
		{"message", false},
		{"stale", false},
		{"fresh", false},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			if err := feed.ValidateType(tc.typ); (err == nil) != tc.ok {
				t.Fatalf("ValidateType(%q) = %v, want ok=%v", tc.typ, err, tc.ok)
			}
		})
	}
}

func TestUpdateValidate(t *testing.T) {
	score := func(data string) feed.Update {
		return feed.Update{Topic: "nba/lal-bos", Type: "score", Data: json.RawMessage(data)}
	}
	tick := func(data string) feed.Update {
		return feed.Update{Topic: "stocks/AAPL", Type: "tick", Data: json.RawMessage(data)}
	}
	other := func(data string) feed.Update {
		return feed.Update{Topic: "news/x", Type: "headline", Data: json.RawMessage(data)}
	}
	for _, tc := range []struct {
		name    string
		update  feed.Update
		wantErr string // substring of the error; "" for valid
		compact string // expected data after validation, if valid
	}{
		{"OKScore", score(`{"home":"Lakers","away":"Celtics","home_score":3,"away_score":0}`), "", `{"home":"Lakers","away":"Celtics","home_score":3,"away_score":0}`},
		{"OKScoreFull", score(`{"home":"A","away":"B","home_score":0,"away_score":12,"period":4,"clock":"1:02","status":"live"}`), "", ""},
		{"OKScorePeriodString", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"period":"OT"}`), "", ""},
		{"OKScoreNullOptional", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"clock":null}`), "", ""},
		{"OKScoreExtraField", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"venue":"Garden"}`), "", ""},
		{"OKWhitespaceCompacted", score("{\n  \"home\": \"A\",\n  \"away\": \"B\",\n  \"home_score\": 1,\n  \"away_score\": 2\n}"), "", `{"home":"A","away":"B","home_score":1,"away_score":2}`},
		{"OKHTMLTeamName", score(`{"home":"<img src=x onerror=alert(1)>","away":"B","home_score":0,"away_score":0}`), "", ""},
		{"ErrScoreMissingHome", score(`{"away":"B","home_score":0,"away_score":0}`), "data.home is required", ""},
		{"ErrScoreNegative", score(`{"home":"A","away":"B","home_score":-1,"away_score":0}`), "data.home_score must be a non-negative integer", ""},
		{"ErrScoreFraction", score(`{"home":"A","away":"B","home_score":1.5,"away_score":0}`), "data.home_score must be a non-negative integer", ""},
		{"ErrScoreExponent", score(`{"home":"A","away":"B","home_score":1e3,"away_score":0}`), "data.home_score", ""},
		{"ErrScoreString", score(`{"home":"A","away":"B","home_score":"3","away_score":0}`), "data.home_score", ""},
		{"ErrScoreHuge", score(`{"home":"A","away":"B","home_score":9007199254740992,"away_score":0}`), "data.home_score", ""},
		{"ErrScoreTeamNotString", score(`{"home":5,"away":"B","home_score":0,"away_score":0}`), "data.home must be a string", ""},
		{"ErrScoreTeamEmpty", score(`{"home":"","away":"B","home_score":0,"away_score":0}`), "data.home must be 1 to 100 bytes", ""},
		{"ErrScoreTeamControl", score(`{"home":"A\u0000","away":"B","home_score":0,"away_score":0}`), "control character", ""},
		{"ErrScoreTeamTooLong", score(`{"home":"` + strings.Repeat("x", 101) + `","away":"B","home_score":0,"away_score":0}`), "data.home must be 1 to 100 bytes", ""},
		{"ErrScoreStatus", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"status":"LIVE!"}`), "data.status", ""},
		{"ErrScorePeriod", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"period":true}`), "data.period", ""},
		{"ErrDuplicateKey", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_score":5}`), `the key "home_score" twice`, ""},
		// A team's abbreviation, colour and logo (optional; widgets show them).
		{"OKScoreTeamLooks", score(`{"home":"Lakers","away":"76ers","home_score":0,"away_score":0,"home_abbr":"LAL","away_abbr":"76ers","home_color":"#552583","away_color":"#006BB6","home_logo":"https://cdn.example.com/logos/lal.svg?v=2","away_logo":"https://cdn.example.com:8443/p%20hi.png#x"}`), "", ""},
		{"OKScoreTeamLooksNull", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_abbr":null,"home_color":null,"home_logo":null}`), "", ""},
		{"ErrAbbrShort", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_abbr":"L"}`), `data.home_abbr must be 2 to 5 letters or digits, such as "LAL"`, ""},
		{"ErrAbbrLong", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"away_abbr":"LAKERS"}`), "data.away_abbr must be 2 to 5", ""},
		{"ErrAbbrMarkup", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_abbr":"<b>"}`), "data.home_abbr", ""},
		{"ErrAbbrSpace", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_abbr":"L A"}`), "data.home_abbr", ""},
		{"ErrAbbrNonASCII", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_abbr":"M\u00dcN"}`), "data.home_abbr", ""},
		{"ErrAbbrNumber", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_abbr":76}`), "data.home_abbr", ""},
		{"ErrColorName", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_color":"purple"}`), `data.home_color must be a colour written #rrggbb, such as "#552583"`, ""},
		{"ErrColorShort", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_color":"#fff"}`), "data.home_color", ""},
		{"ErrColorAlpha", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"away_color":"#55258380"}`), "data.away_color", ""},
		{"ErrColorNotHex", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"away_color":"#55258g"}`), "data.away_color", ""},
		{"ErrColorInjection", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_color":"red;background:url(https://x/)"}`), "data.home_color", ""},
		{"ErrLogoHTTP", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"http://example.com/a.png"}`), "data.home_logo must be an https:// URL", ""},
		{"ErrLogoJavaScript", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"javascript:alert(1)"}`), "data.home_logo must be an https:// URL", ""},
		{"ErrLogoData", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"away_logo":"data:image/svg+xml,<svg/onload=alert(1)>"}`), "data.away_logo must be an https:// URL", ""},
		{"ErrLogoUpperScheme", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"away_logo":"HTTPS://example.com/a.png"}`), "data.away_logo must be an https:// URL", ""},
		{"ErrLogoRelative", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"/logo.png"}`), "data.home_logo must be an https:// URL", ""},
		{"ErrLogoTooLong", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"https://example.com/` + strings.Repeat("a", 493) + `"}`), "data.home_logo is 513 bytes long; the limit is 512", ""},
		{"OKLogoLongest", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"https://example.com/` + strings.Repeat("a", 492) + `"}`), "", ""},
		{"ErrLogoCredentials", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"https://user:secret@example.com/a.png"}`), "data.home_logo must not hold credentials", ""},
		{"ErrLogoUserOnly", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"https://token@example.com/a.png"}`), "data.home_logo must not hold credentials", ""},
		{"ErrLogoBackslash", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"https://good.example\\@evil.example/a.png"}`), "data.home_logo holds '\\\\'", ""},
		{"ErrLogoSpace", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"https://example.com/a b.png"}`), "data.home_logo holds ' '", ""},
		{"ErrLogoQuote", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"https://example.com/a\".png"}`), "data.home_logo holds '\"'", ""},
		{"ErrLogoNonASCII", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"https://b\u00fccher.example/a.png"}`), "data.home_logo holds", ""},
		{"ErrLogoControl", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"https://example.com/\n.png"}`), "data.home_logo holds", ""},
		{"ErrLogoNoHost", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"https:///a.png"}`), "data.home_logo is not a URL with a host", ""},
		{"ErrLogoBadPort", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"https://example.com:port/a.png"}`), "data.home_logo is not a URL with a host", ""},
		{"ErrLogoNumber", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":1}`), "data.home_logo must be an https:// URL", ""},
		{"OKTick", tick(`{"symbol":"AAPL","price":231.4,"change":-1.25,"change_pct":-0.54,"volume":1200,"currency":"USD"}`), "", ""},
		{"ErrTickNegativePrice", tick(`{"symbol":"CL","price":-37.63}`), "data.price must be greater than 0", ""},
		{"ErrTickZeroPrice", tick(`{"symbol":"AAPL","price":0}`), "data.price must be greater than 0", ""},
		{"ErrTickNegativeZeroPrice", tick(`{"symbol":"AAPL","price":-0.0}`), "data.price must be greater than 0", ""},
		{"ErrTickTinyPrice", tick(`{"symbol":"AAPL","price":1e-999}`), "data.price must be greater than 0", ""},
		{"OKTickSmallPrice", tick(`{"symbol":"PENNY","price":0.0001}`), "", ""},
		{"OKArchive", feed.Update{Topic: "nba/lal-bos", Type: "archive", Data: json.RawMessage(`{ }`)}, "", `{}`},
		{"ErrArchiveData", feed.Update{Topic: "nba/lal-bos", Type: "archive", Data: json.RawMessage(`{"why":"over"}`)}, "an archive event takes no data", ""},
		{"ErrArchiveNotObject", feed.Update{Topic: "nba/lal-bos", Type: "archive", Data: json.RawMessage(`[]`)}, "data must be a JSON object", ""},
		{"ErrTickPriceString", tick(`{"symbol":"AAPL","price":"231"}`), "data.price must be a number", ""},
		{"ErrTickPriceInfinite", tick(`{"symbol":"AAPL","price":1e999}`), "data.price is 1e999, beyond the range of an IEEE 754 double", ""},
		{"ErrTickMissingPrice", tick(`{"symbol":"AAPL"}`), "data.price is required", ""},
		{"ErrTickCurrency", tick(`{"symbol":"AAPL","price":1,"currency":"usd"}`), "data.currency", ""},
		{"ErrTickVolume", tick(`{"symbol":"AAPL","price":1,"volume":-5}`), "data.volume", ""},
		// I-JSON (RFC 7493) at any depth of any type's data.
		{"ErrHugeNumberNested", other(`{"a":{"b":[1,2,1e999]}}`), "data.a.b[2] is 1e999, beyond the range of an IEEE 754 double", ""},
		{"ErrLoneSurrogate", score(`{"home":"A\ud800","away":"B","home_score":0,"away_score":0}`), `data.home holds a lone surrogate (\ud800)`, ""},
		{"ErrLoneSurrogateNested", other(`{"a":[{"b":"\udfff"}]}`), `data.a[0].b holds a lone surrogate`, ""},
		{"ErrRawSurrogate", other("{\"a\":\"\xed\xb0\x80\"}"), "data.a is not valid UTF-8", ""},
		{"ErrDuplicateNested", other(`{"a":{"b":1,"b":2}}`), `data.a has the key "b" twice`, ""},
		{"ErrDuplicateEscaped", other(`{"data":1,"d\u0061ta":2}`), `data has the key "data" twice`, ""},
		{"ErrTooDeep", other(strings.Repeat(`{"a":`, 33) + `0` + strings.Repeat(`}`, 33)), "nested too deeply: at most 32 levels", ""},
		{"OKDepth32", other(strings.Repeat(`{"a":`, 32) + `0` + strings.Repeat(`}`, 32)), "", ""},
		{"OKSurrogatePair", other(`{"emoji":"\ud83c\udfc0"}`), "", `{"emoji":"\ud83c\udfc0"}`},
		{"OKTinyNumber", other(`{"a":1e-999}`), "", ""},
		{"ErrNBSPAround", other("{}\u00a0"), "not valid JSON", ""},
		// Text that displays as something else (CWE-451, CVE-2021-42574).
		{"ErrBidiOverride", score(`{"home":"Lakers\u202e","away":"B","home_score":0,"away_score":0}`), "data.home contains a bidirectional control character", ""},
		{"ErrBidiIsolateRaw", score("{\"home\":\"A\",\"away\":\"\u2066B\",\"home_score\":0,\"away_score\":0}"), "data.away contains a bidirectional control character, which can make text display in another order (U+2066)", ""},
		{"ErrBidiMark", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"clock":"1:0\u200f2"}`), "data.clock contains a bidirectional", ""},
		{"ErrArabicMark", score(`{"home":"A","away":"B","home_score":0,"away_score":0,"period":"\u061cOT"}`), "data.period contains a bidirectional", ""},
		{"ErrZeroWidth", tick(`{"symbol":"AA\u200bPL","price":1}`), "data.symbol contains an invisible zero-width character (U+200B)", ""},
		{"ErrWordJoiner", tick(`{"symbol":"AAPL\u2060","price":1}`), "data.symbol contains an invisible", ""},
		{"ErrBOM", score(`{"home":"\ufeffA","away":"B","home_score":0,"away_score":0}`), "data.home contains an invisible", ""},
		{"ErrC1Control", score(`{"home":"A\u0085","away":"B","home_score":0,"away_score":0}`), "data.home contains a control character (U+0085)", ""},
		{"ErrDEL", score(`{"home":"A\u007f","away":"B","home_score":0,"away_score":0}`), "data.home contains a control character (U+007F)", ""},
		{"OKUnicodeTeam", score(`{"home":"Bayern M\u00fcnchen","away":"\u5317\u4eac","home_score":0,"away_score":0}`), "", ""},
		{"OKBidiInOtherType", other(`{"text":"\u202e"}`), "", ""},
		{"OKOtherType", other(`{"text":"anything","n":[1,2,{"x":null}]}`), "", ""},
		{"OKEmptyObject", other(`{}`), "", ""},
		{"ErrArray", other(`[1,2]`), "data must be a JSON object", ""},
		{"ErrString", other(`"x"`), "data must be a JSON object", ""},
		{"ErrMissing", other(``), "data is required", ""},
		{"ErrNull", other(`null`), "data is required", ""},
		{"ErrTruncated", other(`{"a":`), "not valid JSON", ""},
		{"ErrTrailing", other(`{"a":1}{"b":2}`), "not valid JSON", ""},
		{"ErrInvalidUTF8", other("{\"a\":\"\xff\"}"), "UTF-8", ""},
		{"ErrTooBig", other(`{"a":"` + strings.Repeat("x", feed.MaxDataBytes) + `"}`), "the limit is 65536", ""},
		{"ErrTopic", feed.Update{Topic: "", Type: "score", Data: json.RawMessage(`{}`)}, "topic is empty", ""},
		{"ErrType", feed.Update{Topic: "a", Type: "Bad", Data: json.RawMessage(`{}`)}, "type", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.update.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want ok", err)
				}
				if tc.compact != "" && string(got.Data) != tc.compact {
					t.Fatalf("data = %s, want %s", got.Data, tc.compact)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = ok, want error containing %q", tc.wantErr)
			}
			if !errors.Is(err, feed.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want ErrInvalid containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidateBatch(t *testing.T) {
	ok := feed.Update{Topic: "a", Type: "x", Data: json.RawMessage(`{}`)}
	bad := feed.Update{Topic: "a", Type: "x", Data: json.RawMessage(`[]`)}
	t.Run("ErrEmpty", func(t *testing.T) {
		if _, err := feed.ValidateBatch(nil); !errors.Is(err, feed.ErrInvalid) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ErrNamesPosition", func(t *testing.T) {
		_, err := feed.ValidateBatch([]feed.Update{ok, ok, bad})
		if err == nil || !strings.HasPrefix(err.Error(), "event 2:") {
			t.Fatalf("got %v, want an error naming event 2", err)
		}
	})
	t.Run("ErrTooMany", func(t *testing.T) {
		many := make([]feed.Update, feed.MaxBatch+1)
		for i := range many {
			many[i] = ok
		}
		if _, err := feed.ValidateBatch(many); err == nil || !strings.Contains(err.Error(), "limit") {
			t.Fatalf("got %v", err)
		}
	})
}

var (
	colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	abbrRE  = regexp.MustCompile(`^[A-Za-z0-9]{2,5}$`)
)

// FuzzUpdateValidate checks that validation never panics, and that whatever
// it accepts is a compact, valid JSON object on one line with a valid topic
// and type, so it can be framed and stored as is.
func FuzzUpdateValidate(f *testing.F) {
	f.Add("nba/lal-bos", "score", `{"home":"A","away":"B","home_score":1,"away_score":2,"period":"OT"}`)
	f.Add("stocks/AAPL", "tick", `{"symbol":"AAPL","price":-1.5e2,"volume":0,"currency":"USD"}`)
	f.Add("x", "note", "{\"a\":\"line\\nbreak\",\n\"b\":[1,\r\n2]}")
	f.Add("a/b", "score", `{"home":"A","home":"B"}`)
	f.Add("a", "tick", `{"price":1e400}`)
	f.Add("stocks/CL", "tick", `{"symbol":"CL","price":-0}`)
	f.Add("stocks/X", "tick", `{"symbol":"X","price":5e-324}`)
	f.Add("nba/g1", "archive", `{}`)
	f.Add("nba/g1", "archive", "{ \n}")
	f.Add("nba/g1", "archive", `{"a":1}`)
	f.Add("a", "x", "{\"k\":\"\xff\"}")
	f.Add("nba/g1", "score", `{"home":"A","away":"B","home_score":0,"away_score":0,"home_abbr":"LAL","home_color":"#552583","home_logo":"https://cdn.example.com/lal.svg"}`)
	f.Add("nba/g1", "score", `{"home":"A","away":"B","home_score":0,"away_score":0,"away_logo":"https://u:p@example.com/a.png","away_color":"#GGGGGG"}`)
	f.Add("nba/g1", "score", `{"home":"A","away":"B","home_score":0,"away_score":0,"home_logo":"https://a\\@b/","home_abbr":"\u004c\u0041"}`)
	f.Fuzz(func(t *testing.T, topic, typ, data string) {
		u, err := feed.Update{Topic: topic, Type: typ, Data: json.RawMessage(data)}.Validate()
		if err != nil {
			if !errors.Is(err, feed.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if feed.ValidateTopic(u.Topic) != nil || feed.ValidateType(u.Type) != nil {
			t.Fatalf("accepted bad topic %q or type %q", u.Topic, u.Type)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(u.Data, &obj); err != nil {
			t.Fatalf("accepted data %q is not a JSON object: %v", u.Data, err)
		}
		if strings.ContainsAny(string(u.Data), "\r\n") || !utf8.Valid(u.Data) {
			t.Fatalf("accepted data %q is not one line of UTF-8", u.Data)
		}
		switch u.Type {
		case feed.TypeTick:
			var tick struct{ Price float64 }
			if err := json.Unmarshal(u.Data, &tick); err != nil || !(tick.Price > 0) {
				t.Fatalf("accepted tick %q without a positive price", u.Data)
			}
		case feed.TypeScore:
			// What a widget puts in a style or an image's src is exactly
			// what validation allows.
			var looks map[string]any
			json.Unmarshal(u.Data, &looks)
			for _, side := range []string{"home", "away"} {
				if c, ok := looks[side+"_color"].(string); ok && !colorRE.MatchString(c) {
					t.Fatalf("accepted %s_color %q", side, c)
				}
				if a, ok := looks[side+"_abbr"].(string); ok && !abbrRE.MatchString(a) {
					t.Fatalf("accepted %s_abbr %q", side, a)
				}
				if l, ok := looks[side+"_logo"].(string); ok {
					if u, err := url.Parse(l); err != nil || u.Scheme != "https" || u.User != nil || u.Host == "" || strings.ContainsAny(l, "\\ ") {
						t.Fatalf("accepted %s_logo %q", side, l)
					}
				}
			}
		case feed.TypeArchive:
			if string(u.Data) != "{}" {
				t.Fatalf("accepted archive data %q", u.Data)
			}
		}
	})
}

func FuzzValidateTopic(f *testing.F) {
	for _, s := range []string{"nba/lal-bos", "a", "/a", "a//b", "a/", "x y", "a\nb", strings.Repeat("z", 129), "a/../b", ".", "a/.", "nba/été", "a/\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		if feed.ValidateTopic(topic) != nil {
			return
		}
		if len(topic) == 0 || len(topic) > feed.MaxTopicLen {
			t.Fatalf("accepted %d-byte topic", len(topic))
		}
		for _, seg := range strings.Split(topic, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("accepted segment %q in %q", seg, topic)
			}
			for _, c := range []byte(seg) {
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
					t.Fatalf("accepted byte %q in %q", c, topic)
				}
			}
		}
	})
}

// TestChecked: an update checked once (on a stream's reading goroutine) is
// what ValidateUpTo makes of it; a log with a lower size limit refuses it
// by size alone, with the message ValidateUpTo gives; the zero Checked is
// refused.
func TestChecked(t *testing.T) {
	u := feed.Update{Topic: "stocks/S0001", Type: "tick", Data: json.RawMessage(` {"symbol":"S0001","price":1.5,"change":0,"volume":7} `)}
	c, err := u.Check(feed.MaxDataBytesLimit)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := u.ValidateUpTo(feed.MaxDataBytes)
	got, err := c.Within(feed.MaxDataBytes)
	if err != nil || got.Topic != want.Topic || got.Type != want.Type || string(got.Data) != string(want.Data) {
		t.Fatalf("Within = %+v, %v; want %+v", got, err, want)
	}
	_, small := u.ValidateUpTo(20)
	if _, err := c.Within(20); !errors.Is(err, feed.ErrInvalid) || small == nil || err.Error() != small.Error() {
		t.Fatalf("Within(20) = %v; ValidateUpTo(20) says %v", err, small)
	}
	if _, err := (feed.Checked{}).Within(feed.MaxDataBytes); !errors.Is(err, feed.ErrInvalid) {
		t.Fatalf("the zero Checked: %v", err)
	}
	bad := feed.Update{Topic: "stocks/S0001", Type: "tick", Data: json.RawMessage(`{"symbol":"S0001"}`)}
	if _, err := bad.Check(feed.MaxDataBytesLimit); !errors.Is(err, feed.ErrInvalid) {
		t.Fatalf("a tick without its fields was checked: %v", err)
	}
}

// TestCheckAppend: updates checked one after another into one buffer each
// keep their compact data, whatever is checked after them (a refused one,
// a buffer that had to be replaced); a refused update leaves the buffer as
// it was.
func TestCheckAppend(t *testing.T) {
	tick := func(sym string, space string) feed.Update {
		return feed.Update{Topic: "stocks/" + sym, Type: "tick", Data: json.RawMessage(`{"symbol":"` + sym + `",` + space + `"price":1.5,"change":0,"volume":7}`)}
	}
	buf := make([]byte, 0, 64) // room for one tick: the third replaces it
	var got []feed.Checked
	var wants []string
	for i, u := range []feed.Update{
		tick("S0001", " "),
		{Topic: "stocks/S0002", Type: "tick", Data: json.RawMessage(`{"symbol":"S0002","price":"high"}`)},
		tick("S0003", "\n\t"),
		tick("S0004", ""),
	} {
		before := string(buf)
		c, grown, err := u.CheckAppend(buf, feed.MaxDataBytesLimit)
		if i == 1 {
			if !errors.Is(err, feed.ErrInvalid) || string(grown) != before || len(grown) != len(buf) {
				t.Fatalf("a refused tick: %v, the buffer %q, was %q", err, grown, before)
			}
			continue
		}
		want, verr := u.Validate()
		if err != nil || verr != nil {
			t.Fatalf("update %d: %v, %v", i, err, verr)
		}
		if string(grown[:len(before)]) != before {
			t.Fatalf("update %d changed what the buffer held: %q, was %q", i, grown, before)
		}
		buf = grown
		got = append(got, c)
		wants = append(wants, string(want.Data))
	}
	for i, c := range got {
		u, err := c.Within(feed.MaxDataBytes)
		if err != nil || string(u.Data) != wants[i] {
			t.Fatalf("checked update %d has data %q (%v), want %q", i, u.Data, err, wants[i])
		}
		if cap(u.Data) != len(u.Data) {
			t.Fatalf("checked update %d's data can be appended to in place (cap %d, len %d)", i, cap(u.Data), len(u.Data))
		}
	}
}
