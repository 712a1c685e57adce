package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"livefeed/feed"
)

// The forms of the admin console. Each Parse function checks a posted
// form's shape and gives a message an operator can act on; the updates they
// lead to are validated by the store like every other publish.

// csrfField is the form field carrying the CSRF token, in every form.
const csrfField = "csrf"

// maxPoints bounds one score change: the +1/+2/+3 buttons, and corrections.
const maxPoints = 3

// LoginForm is the sign-in form of the admin console.
type LoginForm struct {
	Name     string
	Password string
}

// ParseLoginForm reads the sign-in form: name and password.
func ParseLoginForm(v url.Values) (LoginForm, error) {
	if err := checkFields(v, "name", "password"); err != nil {
		return LoginForm{}, err
	}
	f := LoginForm{Name: v.Get("name"), Password: v.Get("password")}
	switch {
	case f.Name == "" || f.Password == "":
		return LoginForm{}, formError("enter your operator name and password")
	case len(f.Name) > 64:
		return LoginForm{}, formError("the operator name is longer than 64 characters")
	case len(f.Password) > 72:
		return LoginForm{}, formError("the password is longer than 72 bytes") // bcrypt's limit
	}
	return f, nil
}

// GameForm creates a game: its topic and its teams.
type GameForm struct {
	Topic, Home, Away string
}

// ParseGameForm reads the new-game form: topic, home, away.
func ParseGameForm(v url.Values) (GameForm, error) {
	if err := checkFields(v, "topic", "home", "away"); err != nil {
		return GameForm{}, err
	}
	f := GameForm{Topic: v.Get("topic"), Home: strings.TrimSpace(v.Get("home")), Away: strings.TrimSpace(v.Get("away"))}
	if err := feed.ValidateTopic(f.Topic); err != nil {
		return GameForm{}, err
	}
	if err := checkText("home team", f.Home); err != nil {
		return GameForm{}, err
	}
	if err := checkText("away team", f.Away); err != nil {
		return GameForm{}, err
	}
	return f, nil
}

// Update is the game's first score event: 0–0, scheduled.
func (f GameForm) Update() feed.Update {
	return scoreUpdate(f.Topic, map[string]any{
		"home": f.Home, "away": f.Away, "home_score": 0, "away_score": 0, "status": "scheduled",
	})
}

// ScoreForm changes a game's score, period, clock or status. Points are
// added to the score stored when the change is applied, so two operators
// pressing +3 at once make +6, not +3; a score given as such (a
// correction) replaces it.
type ScoreForm struct {
	Topic                  string
	HomePoints, AwayPoints int    // -3 to 3
	HomeScore, AwayScore   int64  // the score itself, -1 to keep it
	Period, Clock, Status  string // "" leaves the value as it is
	// Clear lists the optional fields to remove: period, clock.
	Clear []string
	// ClockRun starts the game clock ("down" or "up": viewers' widgets
	// count from the event's time) or stops it ("stop"); "" keeps it.
	ClockRun string
	// FinalOK confirms a change of the score of a game that is final.
	FinalOK bool
}

// clearable are the fields a score form may clear.
var clearable = []string{"period", "clock"}

// ParseScoreForm reads the score form: topic, and any of home_points,
// away_points, home_score, away_score, period, clock, status, clear (a
// comma-separated list of period and clock), clock_run (down, up or stop)
// and final_ok (1).
func ParseScoreForm(v url.Values) (ScoreForm, error) {
	if err := checkFields(v, "topic", "home_points", "away_points", "home_score", "away_score", "period", "clock", "status", "clear", "clock_run", "final_ok"); err != nil {
		return ScoreForm{}, err
	}
	f := ScoreForm{
		Topic:     v.Get("topic"),
		HomeScore: -1,
		AwayScore: -1,
		Period:    strings.TrimSpace(v.Get("period")),
		Clock:     strings.TrimSpace(v.Get("clock")),
		Status:    strings.TrimSpace(v.Get("status")),
		ClockRun:  strings.TrimSpace(v.Get("clock_run")),
	}
	if err := feed.ValidateTopic(f.Topic); err != nil {
		return ScoreForm{}, err
	}
	var err error
	if f.HomePoints, err = parsePoints("home_points", v.Get("home_points")); err != nil {
		return ScoreForm{}, err
	}
	if f.AwayPoints, err = parsePoints("away_points", v.Get("away_points")); err != nil {
		return ScoreForm{}, err
	}
	if f.HomeScore, err = parseScore("home_score", v.Get("home_score")); err != nil {
		return ScoreForm{}, err
	}
	if f.AwayScore, err = parseScore("away_score", v.Get("away_score")); err != nil {
		return ScoreForm{}, err
	}
	if f.HomeScore >= 0 && f.HomePoints != 0 || f.AwayScore >= 0 && f.AwayPoints != 0 {
		return ScoreForm{}, formError("give a side either points or its score, not both")
	}
	for _, field := range []struct{ name, value string }{{"period", f.Period}, {"clock", f.Clock}} {
		if field.value != "" {
			if err := checkText(field.name, field.value); err != nil {
				return ScoreForm{}, err
			}
			if len(field.value) > 32 {
				return ScoreForm{}, formError("the %s is longer than 32 bytes", field.name)
			}
		}
	}
	if f.Status != "" && !isStatus(f.Status) {
		return ScoreForm{}, formError("status must be a lowercase word such as scheduled, live or final")
	}
	if c := strings.TrimSpace(v.Get("clear")); c != "" {
		for _, name := range strings.Split(c, ",") {
			name = strings.TrimSpace(name)
			if !slices.Contains(clearable, name) {
				return ScoreForm{}, formError("clear takes period and clock, not %q", name)
			}
			if name == "period" && f.Period != "" || name == "clock" && f.Clock != "" {
				return ScoreForm{}, formError("the %s cannot be set and cleared at once", name)
			}
			if !slices.Contains(f.Clear, name) {
				f.Clear = append(f.Clear, name)
			}
		}
	}
	switch f.ClockRun {
	case "", "stop":
	case "down", "up":
		if slices.Contains(f.Clear, "clock") {
			return ScoreForm{}, formError("a cleared clock cannot run")
		}
		if f.Clock != "" {
			if _, ok := parseClock(f.Clock); !ok {
				return ScoreForm{}, formError("a running clock needs minutes and seconds such as 7:45")
			}
		}
	default:
		return ScoreForm{}, formError("clock_run must be down, up or stop")
	}
	switch v.Get("final_ok") {
	case "":
	case "1":
		f.FinalOK = true
	default:
		return ScoreForm{}, formError("final_ok must be 1")
	}
	if f.HomePoints == 0 && f.AwayPoints == 0 && f.HomeScore < 0 && f.AwayScore < 0 && f.Period == "" && f.Clock == "" &&
		f.Status == "" && len(f.Clear) == 0 && f.ClockRun == "" {
		return ScoreForm{}, formError("nothing to change: give points, a score, a period, a clock or a status")
	}
	return f, nil
}

// maxScore bounds a score typed in the console: far beyond any game's,
// and within what every JavaScript client reads exactly.
const maxScore = 1_000_000

func parseScore(name, v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > maxScore || strings.HasPrefix(v, "+") {
		return 0, formError("%s must be a whole number from 0 to %d", name, maxScore)
	}
	return n, nil
}

// parseClock reads a game clock of minutes and seconds, "7:45" or
// "12:00", into seconds.
func parseClock(s string) (int, bool) {
	m, sec, ok := strings.Cut(s, ":")
	if !ok || len(m) == 0 || len(m) > 3 || len(sec) != 2 {
		return 0, false
	}
	mins, err1 := strconv.Atoi(m)
	secs, err2 := strconv.Atoi(sec)
	if err1 != nil || err2 != nil || mins < 0 || secs < 0 || secs > 59 || strings.ContainsAny(m+sec, "+-") {
		return 0, false
	}
	return mins*60 + secs, true
}

// formatClock writes seconds as a game clock, "7:05".
func formatClock(secs int) string {
	return strconv.Itoa(secs/60) + ":" + fmt.Sprintf("%02d", secs%60)
}

// isStatus reports whether s is a status word: [a-z][a-z0-9_-]{0,31}.
func isStatus(s string) bool {
	if s == "" || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == ""
}

func parsePoints(name, v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < -maxPoints || n > maxPoints {
		return 0, formError("%s must be a whole number from %d to %d", name, -maxPoints, maxPoints)
	}
	return n, nil
}

// Apply returns the update that makes the change to latest, the game's
// latest event, at now. Fields the form does not change, including any an
// API publisher added, are kept. A running clock (clock_running "down" or
// "up") is read at now: stopping it, or changing anything else, stores
// the time it shows then, so that it runs on from there.
func (f ScoreForm) Apply(latest feed.Event, now time.Time) (feed.Update, error) {
	if latest.Type != feed.TypeScore {
		return feed.Update{}, formError("%s is not a game (its latest event is a %q event)", f.Topic, latest.Type)
	}
	data, err := decodeData(latest)
	if err != nil {
		return feed.Update{}, err
	}
	var status string
	json.Unmarshal(data["status"], &status)
	scoring := f.HomePoints != 0 || f.AwayPoints != 0 || f.HomeScore >= 0 || f.AwayScore >= 0
	if scoring && status == feed.StatusFinal && !f.FinalOK {
		return feed.Update{}, feed.Errorf(feed.ErrConflict, "%s is final: confirm to change its score", f.Topic)
	}
	for _, side := range []struct {
		key    string
		points int
		set    int64
	}{{"home_score", f.HomePoints, f.HomeScore}, {"away_score", f.AwayPoints, f.AwayScore}} {
		if side.set >= 0 {
			data[side.key] = json.RawMessage(strconv.FormatInt(side.set, 10))
			continue
		}
		var score int64
		if err := json.Unmarshal(data[side.key], &score); err != nil {
			return feed.Update{}, formError("the stored %s of %s is not a number", side.key, f.Topic)
		}
		if score+int64(side.points) < 0 {
			return feed.Update{}, formError("%s cannot go below 0", side.key)
		}
		data[side.key] = json.RawMessage(strconv.FormatInt(score+int64(side.points), 10))
	}
	if f.Period != "" {
		if n, err := strconv.Atoi(f.Period); err == nil && n >= 0 {
			data["period"] = json.RawMessage(strconv.Itoa(n)) // quarter 4 is a number, "OT" text
		} else {
			data["period"] = jsonString(f.Period)
		}
	}
	// The clock as it shows now, if it runs.
	var running string
	json.Unmarshal(data["clock_running"], &running)
	if running == "down" || running == "up" {
		var clock string
		json.Unmarshal(data["clock"], &clock)
		if secs, ok := parseClock(clock); ok {
			elapsed := int(now.Sub(latest.Time) / time.Second)
			if running == "down" {
				secs = max(secs-elapsed, 0)
			} else {
				secs += max(elapsed, 0)
			}
			data["clock"] = jsonString(formatClock(secs))
		}
	}
	if f.Clock != "" {
		data["clock"] = jsonString(f.Clock)
	}
	for _, name := range f.Clear {
		delete(data, name)
		if name == "clock" {
			delete(data, "clock_running")
		}
	}
	switch f.ClockRun {
	case "stop":
		delete(data, "clock_running")
	case "down", "up":
		var clock string
		json.Unmarshal(data["clock"], &clock)
		if _, ok := parseClock(clock); !ok {
			return feed.Update{}, formError("set the clock (minutes and seconds such as 7:45) before starting it")
		}
		data["clock_running"] = jsonString(f.ClockRun)
	}
	if f.Status != "" {
		data["status"] = jsonString(f.Status)
		if f.Status == feed.StatusFinal {
			delete(data, "clock_running") // the game is over: its clock stops
		}
	}
	delete(data, undoField) // an undo's mark is for the event it came in
	return scoreUpdate(f.Topic, data), nil
}

// SymbolForm creates a stock symbol with its first price.
type SymbolForm struct {
	Topic, Symbol, Currency string
	Price                   float64
}

// ParseSymbolForm reads the new-symbol form: symbol, price, and optionally
// currency and topic (default "stocks/" and the symbol).
func ParseSymbolForm(v url.Values) (SymbolForm, error) {
	if err := checkFields(v, "topic", "symbol", "price", "currency"); err != nil {
		return SymbolForm{}, err
	}
	f := SymbolForm{
		Topic:    strings.TrimSpace(v.Get("topic")),
		Symbol:   strings.ToUpper(strings.TrimSpace(v.Get("symbol"))),
		Currency: strings.ToUpper(strings.TrimSpace(v.Get("currency"))),
	}
	if err := checkText("symbol", f.Symbol); err != nil {
		return SymbolForm{}, err
	}
	if f.Topic == "" {
		f.Topic = "stocks/" + f.Symbol
	}
	if err := feed.ValidateTopic(f.Topic); err != nil {
		return SymbolForm{}, err
	}
	var err error
	if f.Price, err = parsePrice(v.Get("price")); err != nil {
		return SymbolForm{}, err
	}
	if f.Currency != "" && (len(f.Currency) != 3 || strings.Trim(f.Currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "") {
		return SymbolForm{}, formError("currency must be a three-letter code such as USD")
	}
	return f, nil
}

// Update is the symbol's first tick.
func (f SymbolForm) Update() feed.Update {
	data := map[string]any{"symbol": f.Symbol, "price": f.Price}
	if f.Currency != "" {
		data["currency"] = f.Currency
	}
	return tickUpdate(f.Topic, data)
}

// PriceForm sets a symbol's price.
type PriceForm struct {
	Topic string
	Price float64
}

// ParsePriceForm reads the price form: topic and price.
func ParsePriceForm(v url.Values) (PriceForm, error) {
	if err := checkFields(v, "topic", "price"); err != nil {
		return PriceForm{}, err
	}
	f := PriceForm{Topic: v.Get("topic")}
	if err := feed.ValidateTopic(f.Topic); err != nil {
		return PriceForm{}, err
	}
	var err error
	f.Price, err = parsePrice(v.Get("price"))
	return f, err
}

// Apply returns the tick that moves latest, the symbol's latest tick, to
// the new price, with the change from the last price. The symbol and its
// currency are kept; figures of the last tick such as its volume are not.
func (f PriceForm) Apply(latest feed.Event) (feed.Update, error) {
	if latest.Type != feed.TypeTick {
		return feed.Update{}, formError("%s is not a stock symbol (its latest event is a %q event)", f.Topic, latest.Type)
	}
	last, err := decodeData(latest)
	if err != nil {
		return feed.Update{}, err
	}
	var prev float64
	if err := json.Unmarshal(last["price"], &prev); err != nil {
		return feed.Update{}, formError("the stored price of %s is not a number", f.Topic)
	}
	data := map[string]any{"symbol": last["symbol"], "price": f.Price, "change": round(f.Price-prev, 6)}
	if pct := (f.Price - prev) / math.Abs(prev) * 100; prev != 0 && !math.IsInf(pct, 0) {
		data["change_pct"] = round(pct, 2)
	}
	if c, ok := last["currency"]; ok {
		data["currency"] = c
	}
	return tickUpdate(f.Topic, data), nil
}

// maxPrice bounds prices typed in the console, far above any real one, so
// that changes and percentages computed from them stay finite.
const maxPrice = 1e15

// parsePrice reads a decimal price such as 231.45, or 231,45 as typed on
// phones whose decimal key is a comma. A price must be greater than 0.
// Thousands separators are refused rather than guessed: 1,234 is 1.234 in
// half of Europe.
func parsePrice(v string) (float64, error) {
	v = strings.TrimSpace(v)
	if strings.Count(v, ",") == 1 && !strings.Contains(v, ".") {
		v = strings.Replace(v, ",", ".", 1)
	}
	p, err := strconv.ParseFloat(v, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(p) || strings.ContainsAny(v, "xXpP_") {
		return 0, formError("price must be a number such as 231.45 or 231,45")
	}
	if math.Abs(p) > maxPrice {
		return 0, formError("price is out of range")
	}
	if !(p > 0) {
		return 0, formError("price must be greater than 0")
	}
	return p, nil
}

// round rounds x to the given decimal places, removing the float noise of
// a subtraction such as 0.3 - 0.1. A number too large to scale is returned
// as it is.
func round(x float64, places int) float64 {
	scale := math.Pow10(places)
	if math.IsInf(x*scale, 0) {
		return x
	}
	return math.Round(x*scale) / scale
}

// checkFields refuses a form with fields other than names (and the CSRF
// token), or with a field given twice.
func checkFields(v url.Values, names ...string) error {
	for name, values := range v {
		if name != csrfField && !slices.Contains(names, name) {
			return formError("unknown form field %q", name)
		}
		if len(values) > 1 {
			return formError("form field %q is given %d times", name, len(values))
		}
	}
	return nil
}

// checkText checks a short text an operator typed: a team name, a symbol.
func checkText(what, s string) error {
	switch {
	case s == "":
		return formError("enter the %s", what)
	case len(s) > 100:
		return formError("the %s is longer than 100 bytes", what)
	case !utf8.ValidString(s):
		return formError("the %s is not valid text", what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return formError("the %s contains a control character", what)
		}
	}
	return nil
}

// decodeData decodes the data of a stored event.
func decodeData(e feed.Event) (map[string]json.RawMessage, error) {
	var data map[string]json.RawMessage
	if err := json.Unmarshal(e.Data, &data); err != nil {
		return nil, fmt.Errorf("event %d: %w", e.ID, err) // stored data is always an object
	}
	return data, nil
}

func scoreUpdate(topic string, data any) feed.Update {
	raw, _ := json.Marshal(data) // maps of strings, numbers and raw JSON always encode
	return feed.Update{Topic: topic, Type: feed.TypeScore, Data: raw}
}

func tickUpdate(topic string, data any) feed.Update {
	raw, _ := json.Marshal(data)
	return feed.Update{Topic: topic, Type: feed.TypeTick, Data: raw}
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// formError is a form an operator filled in wrongly: 400 with a message
// for them.
func formError(format string, args ...any) error {
	return feed.Errorf(feed.ErrInvalid, format, args...)
}
