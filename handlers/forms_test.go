package handlers_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/handlers"
)

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// wantFormError fails unless err is an invalid-input error containing msg.
func wantFormError(t *testing.T, err error, msg string) {
	t.Helper()
	if !errors.Is(err, feed.ErrInvalid) || !strings.Contains(err.Error(), msg) {
		t.Fatalf("got %v, want an invalid-input error with %q", err, msg)
	}
}

func TestParseLoginForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		form url.Values
		err  string
	}{
		{"OK", form("name", "ann", "password", "secret", "csrf", "x"), ""},
		{"ErrNoPassword", form("name", "ann"), "enter your operator name and password"},
		{"ErrNoName", form("password", "x"), "enter your operator name and password"},
		{"ErrLongName", form("name", strings.Repeat("a", 65), "password", "x"), "longer than 64"},
		{"ErrLongPassword", form("name", "ann", "password", strings.Repeat("p", 73)), "longer than 72"},
		{"ErrUnknownField", form("name", "ann", "password", "x", "remember", "1"), `unknown form field "remember"`},
		{"ErrTwice", form("name", "ann", "name", "bob", "password", "x"), `"name" is given 2 times`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := handlers.ParseLoginForm(tc.form)
			if tc.err != "" {
				wantFormError(t, err, tc.err)
				return
			}
			if err != nil || f.Name != "ann" || f.Password != "secret" {
				t.Fatalf("%+v, %v", f, err)
			}
		})
	}
}

func TestParseGameForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		form url.Values
		err  string
	}{
		{"OK", form("topic", "nba/lal-bos", "home", " Lakers ", "away", "Celtics"), ""},
		{"OKMarkup", form("topic", "x", "home", `<img src=x onerror=alert(1)>`, "away", `"quoted" & co`), ""},
		{"ErrTopic", form("topic", "nba lal", "home", "A", "away", "B"), "not allowed"},
		{"ErrNoHome", form("topic", "x", "home", "  ", "away", "B"), "enter the home team"},
		{"ErrLongAway", form("topic", "x", "home", "A", "away", strings.Repeat("b", 101)), "away team is longer"},
		{"ErrControl", form("topic", "x", "home", "A\x00", "away", "B"), "control character"},
		{"ErrBadUTF8", form("topic", "x", "home", "A\xff", "away", "B"), "not valid text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := handlers.ParseGameForm(tc.form)
			if tc.err != "" {
				wantFormError(t, err, tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Update().Validate(); err != nil {
				t.Fatalf("the store refuses the game's first event: %v", err)
			}
		})
	}
	f, _ := handlers.ParseGameForm(form("topic", "nba/lal-bos", "home", " Lakers ", "away", "Celtics"))
	u := f.Update()
	if u.Topic != "nba/lal-bos" || u.Type != "score" || string(u.Data) != `{"away":"Celtics","away_score":0,"home":"Lakers","home_score":0,"status":"scheduled"}` {
		t.Fatalf("update %s %s %s", u.Topic, u.Type, u.Data)
	}
}

// game is a stored score event for Apply.
func game(data string) feed.Event {
	return feed.Event{ID: 5, Topic: "nba/x", Type: "score", Time: time.Now(), Data: json.RawMessage(data)}
}

// ranFor is a game whose latest event is d old (the form applies at
// once).
func ranFor(d time.Duration, data string) feed.Event {
	e := game(data)
	e.Time = e.Time.Add(-d)
	return e
}

func TestScoreForm(t *testing.T) {
	t.Parallel()
	const start = `{"home":"A","away":"B","home_score":10,"away_score":2,"period":1,"venue":"Arena"}`
	for _, tc := range []struct {
		name   string
		form   url.Values
		latest feed.Event
		want   string // the update's data, or the error
	}{
		{"OKHomeThree", form("topic", "nba/x", "home_points", "3"), game(start),
			`{"away":"B","away_score":2,"home":"A","home_score":13,"period":1,"venue":"Arena"}`},
		{"OKBoth", form("topic", "nba/x", "home_points", "-1", "away_points", "2", "csrf", "t"), game(start),
			`{"away":"B","away_score":4,"home":"A","home_score":9,"period":1,"venue":"Arena"}`},
		{"OKPeriodClockStatus", form("topic", "nba/x", "period", "4", "clock", "0:42", "status", "live"), game(start),
			`{"away":"B","away_score":2,"clock":"0:42","home":"A","home_score":10,"period":4,"status":"live","venue":"Arena"}`},
		{"OKPeriodText", form("topic", "nba/x", "period", "OT"), game(start),
			`{"away":"B","away_score":2,"home":"A","home_score":10,"period":"OT","venue":"Arena"}`},
		{"ErrBelowZero", form("topic", "nba/x", "away_points", "-3"), game(start), "away_score cannot go below 0"},
		{"ErrNotAGame", form("topic", "nba/x", "home_points", "1"),
			feed.Event{Topic: "nba/x", Type: "tick", Data: json.RawMessage(`{"symbol":"X","price":1}`)}, "not a game"},
		{"ErrPoints", form("topic", "nba/x", "home_points", "4"), game(start), "home_points must be a whole number from -3 to 3"},
		{"ErrPointsText", form("topic", "nba/x", "away_points", "three"), game(start), "away_points must be"},
		{"ErrNothing", form("topic", "nba/x", "home_points", "0"), game(start), "nothing to change"},
		{"ErrTopic", form("topic", "", "home_points", "1"), game(start), "topic is empty"},
		{"ErrStatus", form("topic", "nba/x", "status", "Half Time"), game(start), "status must be a lowercase word"},
		{"ErrClock", form("topic", "nba/x", "clock", strings.Repeat("9", 33)), game(start), "clock is longer than 32 bytes"},
		{"ErrUnknownField", form("topic", "nba/x", "home", "Z"), game(start), `unknown form field "home"`},
		// Corrections.
		{"OKSetScore", form("topic", "nba/x", "home_score", "7", "away_score", "0"), game(start),
			`{"away":"B","away_score":0,"home":"A","home_score":7,"period":1,"venue":"Arena"}`},
		{"OKSetOneSide", form("topic", "nba/x", "away_score", "12", "home_points", "1"), game(start),
			`{"away":"B","away_score":12,"home":"A","home_score":11,"period":1,"venue":"Arena"}`},
		{"ErrSetAndPoints", form("topic", "nba/x", "home_score", "7", "home_points", "1"), game(start), "either points or its score"},
		{"ErrSetNegative", form("topic", "nba/x", "home_score", "-1"), game(start), "home_score must be a whole number from 0"},
		{"ErrSetPlus", form("topic", "nba/x", "home_score", "+1"), game(start), "home_score must be a whole number"},
		{"ErrSetHuge", form("topic", "nba/x", "home_score", "1000001"), game(start), "home_score must be a whole number"},
		{"OKClear", form("topic", "nba/x", "clear", "period, clock"), game(`{"home":"A","away":"B","home_score":1,"away_score":2,"period":1,"clock":"1:00","clock_running":"down"}`),
			`{"away":"B","away_score":2,"home":"A","home_score":1}`},
		{"ErrClearUnknown", form("topic", "nba/x", "clear", "home"), game(start), `clear takes period and clock, not "home"`},
		{"ErrClearAndSet", form("topic", "nba/x", "clear", "clock", "clock", "1:00"), game(start), "cannot be set and cleared"},
		{"OKClockStart", form("topic", "nba/x", "clock", "12:00", "clock_run", "down"), game(start),
			`{"away":"B","away_score":2,"clock":"12:00","clock_running":"down","home":"A","home_score":10,"period":1,"venue":"Arena"}`},
		{"OKClockStartUp", form("topic", "nba/x", "clock_run", "up"), game(`{"home":"A","away":"B","home_score":0,"away_score":0,"clock":"45:00"}`),
			`{"away":"B","away_score":0,"clock":"45:00","clock_running":"up","home":"A","home_score":0}`},
		{"OKClockStop", form("topic", "nba/x", "clock_run", "stop"), ranFor(65*time.Second, `{"home":"A","away":"B","home_score":0,"away_score":0,"clock":"12:00","clock_running":"down"}`),
			`{"away":"B","away_score":0,"clock":"10:55","home":"A","home_score":0}`},
		{"OKClockRunsOn", form("topic", "nba/x", "home_points", "2"), ranFor(65*time.Second, `{"home":"A","away":"B","home_score":0,"away_score":0,"clock":"0:30","clock_running":"down"}`),
			`{"away":"B","away_score":0,"clock":"0:00","clock_running":"down","home":"A","home_score":2}`},
		{"OKClockUpRunsOn", form("topic", "nba/x", "status", "halftime", "clock_run", "stop"), ranFor(65*time.Second, `{"home":"A","away":"B","home_score":0,"away_score":0,"clock":"44:30","clock_running":"up"}`),
			`{"away":"B","away_score":0,"clock":"45:35","home":"A","home_score":0,"status":"halftime"}`},
		{"OKFinalStopsClock", form("topic", "nba/x", "status", "final"), ranFor(5*time.Second, `{"home":"A","away":"B","home_score":0,"away_score":0,"clock":"0:05","clock_running":"down"}`),
			`{"away":"B","away_score":0,"clock":"0:00","home":"A","home_score":0,"status":"final"}`},
		{"ErrClockStartUnset", form("topic", "nba/x", "clock_run", "down"), game(start), "set the clock"},
		{"ErrClockStartBad", form("topic", "nba/x", "clock", "7:4", "clock_run", "down"), game(start), "minutes and seconds"},
		{"ErrClockRun", form("topic", "nba/x", "clock_run", "sideways"), game(start), "clock_run must be down, up or stop"},
		{"ErrFinalOK", form("topic", "nba/x", "status", "live", "final_ok", "yes"), game(start), "final_ok must be 1"},
		{"OKUndoMarkDropped", form("topic", "nba/x", "home_points", "1"), game(`{"home":"A","away":"B","home_score":0,"away_score":0,"undo_of":4}`),
			`{"away":"B","away_score":0,"home":"A","home_score":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := handlers.ParseScoreForm(tc.form)
			var u feed.Update
			if err == nil {
				u, err = f.Apply(tc.latest, time.Now())
			}
			if strings.HasPrefix(tc.name, "Err") {
				wantFormError(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(u.Data) != tc.want || u.Topic != "nba/x" || u.Type != "score" {
				t.Fatalf("data %s, want %s", u.Data, tc.want)
			}
			if _, err := u.Validate(); err != nil {
				t.Fatalf("the store refuses the update: %v", err)
			}
		})
	}
}

func TestSymbolAndPriceForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		form url.Values
		want string // topic and data of the update, or the error
	}{
		{"OK", form("symbol", " aapl ", "price", "231.40", "currency", "usd"), `stocks/AAPL {"currency":"USD","price":231.4,"symbol":"AAPL"}`},
		{"OKTopic", form("topic", "fx/EURUSD", "symbol", "EURUSD", "price", "1.0842"), `fx/EURUSD {"price":1.0842,"symbol":"EURUSD"}`},
		{"ErrPrice", form("symbol", "X", "price", "cheap"), "price must be a number"},
		{"ErrPriceInf", form("symbol", "X", "price", "1e999"), "price is out of range"},
		{"ErrPriceHuge", form("symbol", "X", "price", "-2e15"), "price is out of range"},
		{"OKDecimalComma", form("symbol", "X", "price", "99,75"), `stocks/X {"price":99.75,"symbol":"X"}`},
		{"OKDecimalCommaSpaces", form("symbol", "X", "price", " 0,5 "), `stocks/X {"price":0.5,"symbol":"X"}`},
		{"ErrThousands", form("symbol", "X", "price", "1,234.5"), "price must be a number"},
		{"ErrTwoCommas", form("symbol", "X", "price", "1,234,5"), "price must be a number"},
		{"ErrCommaOnly", form("symbol", "X", "price", ","), "price must be a number"},
		{"ErrPriceNegative", form("symbol", "X", "price", "-5"), "price must be greater than 0"},
		{"ErrPriceNegativeComma", form("symbol", "X", "price", "-5,5"), "price must be greater than 0"},
		{"ErrPriceZero", form("symbol", "X", "price", "0"), "price must be greater than 0"},
		{"ErrPriceUnderflow", form("symbol", "X", "price", "1e-400"), "price must be greater than 0"},
		{"ErrPriceNaN", form("symbol", "X", "price", "NaN"), "price must be a number"},
		{"ErrPriceHex", form("symbol", "X", "price", "0x1p3"), "price must be a number"},
		{"ErrCurrency", form("symbol", "X", "price", "1", "currency", "EURO"), "three-letter code"},
		{"ErrSymbolTopic", form("symbol", "^GSPC", "price", "1"), "not allowed"},
		{"ErrNoSymbol", form("price", "1"), "enter the symbol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := handlers.ParseSymbolForm(tc.form)
			if strings.HasPrefix(tc.name, "Err") {
				wantFormError(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u := f.Update()
			if got := u.Topic + " " + string(u.Data); got != tc.want || u.Type != "tick" {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	last := feed.Event{ID: 3, Topic: "stocks/X", Type: "tick", Data: json.RawMessage(`{"symbol":"X","price":0.3,"volume":100,"currency":"EUR"}`)}
	for _, tc := range []struct {
		name  string
		price string
		want  string
	}{
		{"OKDown", "0.1", `{"change":-0.2,"change_pct":-66.67,"currency":"EUR","price":0.1,"symbol":"X"}`},
		{"OKUp", "0.45", `{"change":0.15,"change_pct":50,"currency":"EUR","price":0.45,"symbol":"X"}`},
		{"OKSame", "0.3", `{"change":0,"change_pct":0,"currency":"EUR","price":0.3,"symbol":"X"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := handlers.ParsePriceForm(form("topic", "stocks/X", "price", tc.price))
			if err != nil {
				t.Fatal(err)
			}
			u, err := f.Apply(last)
			if err != nil || string(u.Data) != tc.want {
				t.Fatalf("got %s, %v; want %s", u.Data, err, tc.want)
			}
			if _, err := u.Validate(); err != nil {
				t.Fatalf("the store refuses the tick: %v", err)
			}
		})
	}
	t.Run("ErrNotASymbol", func(t *testing.T) {
		f, _ := handlers.ParsePriceForm(form("topic", "nba/x", "price", "1"))
		_, err := f.Apply(game(`{"home":"A","away":"B","home_score":0,"away_score":0}`))
		wantFormError(t, err, "not a stock symbol")
	})
	t.Run("ErrPriceField", func(t *testing.T) {
		_, err := handlers.ParsePriceForm(form("topic", "stocks/X", "price", "1", "change", "5"))
		wantFormError(t, err, `unknown form field "change"`)
	})
}

// FuzzAdminForms feeds any URL-encoded form to every admin form parser: each
// either refuses it with an invalid-input error, or yields what the store
// accepts.
func FuzzAdminForms(f *testing.F) {
	for _, seed := range []string{
		"name=ann&password=secret&csrf=x",
		"topic=nba/x&home=%3Cimg+src%3Dx%3E&away=B",
		"topic=nba/x&home_points=3&away_points=-1&period=OT&clock=1:00&status=live",
		"symbol=aapl&price=231.40&currency=usd",
		"topic=stocks/X&price=-0.5e2",
		"topic=stocks/X&price=99%2C75", "symbol=X&price=0%2C0", "topic=stocks/X&price=1%2C2%2C3",
		"topic=a&topic=b", "price=1e309", "home_points=%2B3&topic=x",
		"topic=nba/x&home_score=7&away_score=0&final_ok=1", "topic=nba/x&clear=period%2Cclock",
		"topic=nba/x&clock=12:00&clock_run=down", "topic=nba/x&clock_run=up", "topic=nba/x&id=42",
	} {
		f.Add(seed)
	}
	latestGame := game(`{"home":"A","away":"B","home_score":3,"away_score":3,"clock":"9:59","clock_running":"down","status":"final"}`)
	latestTick := feed.Event{ID: 9, Topic: "stocks/X", Type: "tick", Data: json.RawMessage(`{"symbol":"X","price":2.5}`)}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		check := func(err error) bool {
			if err != nil && !errors.Is(err, feed.ErrInvalid) {
				t.Fatalf("%q: error %v is not ErrInvalid", raw, err)
			}
			return err == nil
		}
		valid := func(u feed.Update) {
			if _, err := u.Validate(); err != nil {
				t.Fatalf("%q gives an update the store refuses: %v", raw, err)
			}
		}
		if _, err := handlers.ParseLoginForm(v); check(err) && (v.Get("name") == "" || v.Get("password") == "") {
			t.Fatalf("%q: accepted a sign-in without name or password", raw)
		}
		if g, err := handlers.ParseGameForm(v); check(err) {
			valid(g.Update())
		}
		if s, err := handlers.ParseScoreForm(v); check(err) {
			// A final game's score changes only when confirmed (a conflict).
			if u, err := s.Apply(latestGame, latestGame.Time.Add(time.Minute)); !errors.Is(err, feed.ErrConflict) && check(err) {
				valid(u)
			}
		}
		if f, err := handlers.ParseUndoForm(v); check(err) && (f.ID <= 0 || feed.ValidateTopic(f.Topic) != nil) {
			t.Fatalf("%q: accepted an undo of %+v", raw, f)
		}
		if f, err := handlers.ParseArchiveForm(v); check(err) && feed.ValidateTopic(f.Topic) != nil {
			t.Fatalf("%q: accepted an archive of %q", raw, f.Topic)
		}
		if s, err := handlers.ParseSymbolForm(v); check(err) {
			valid(s.Update())
		}
		if p, err := handlers.ParsePriceForm(v); check(err) {
			if u, err := p.Apply(latestTick); check(err) {
				valid(u)
			}
		}
	})
}
