package bench

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"time"
)

// PlotDay draws W14's rows as an SVG image (plain SVG, written by hand:
// no plotting library for four panels of lines): the acknowledgements'
// and the deliveries' p99, the database file and its WAL, the server's
// RSS, and the resumes and the streams the server closed, each against
// the row. A figure that was not measured leaves a gap in its line.
func PlotDay(table []dayRow, p Params) []byte {
	const width, panelHeight, left, right, top, gap = 800, 170, 60, 150, 30, 40
	nan := math.NaN()
	series := func(get func(dayRow) float64) []float64 {
		v := make([]float64, len(table))
		for i, row := range table {
			v[i] = get(row)
		}
		return v
	}
	mb := func(b int64) float64 {
		if b < 0 {
			return nan
		}
		return float64(b) / (1 << 20)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	type line struct {
		name   string
		color  string
		values []float64
	}
	panels := []struct {
		title string
		lines []line
	}{
		{"latency p99 (ms)", []line{
			{"ingest ack", "#1f77b4", series(func(r dayRow) float64 { return ms(r.ackP99) })},
			{"delivery", "#d62728", series(func(r dayRow) float64 { return ms(r.deliveryP99) })},
		}},
		{"database (MB)", []line{
			{"file", "#2ca02c", series(func(r dayRow) float64 { return mb(r.dbBytes) })},
			{"WAL", "#9467bd", series(func(r dayRow) float64 { return mb(r.walBytes) })},
		}},
		{"server RSS (MB)", []line{
			{"RSS", "#ff7f0e", series(func(r dayRow) float64 {
				if r.rssKB < 0 {
					return nan
				}
				return float64(r.rssKB) / 1024
			})},
		}},
		{"per row", []line{
			{"resumes ok", "#2ca02c", series(func(r dayRow) float64 { return float64(r.resumesOK) })},
			{"resumes reset", "#7f7f7f", series(func(r dayRow) float64 { return float64(r.resumesReset) })},
			{"resumes wrong", "#d62728", series(func(r dayRow) float64 { return float64(r.resumesWrong) })},
			{"server closed", "#000000", series(func(r dayRow) float64 { return r.disconnects })},
		}},
	}
	height := top + len(panels)*(panelHeight+gap)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">%s</text>`+"\n", left,
		html.EscapeString(fmt.Sprintf("W14, a trading day: %d symbols, %g ticks/s from %d connections, rows of %s", p.Symbols, p.Rate, p.Publishers, p.Interval)))
	plotW := float64(width - left - right)
	for k, panel := range panels {
		y0 := float64(top + k*(panelHeight+gap) + 20) // the panel's top
		h := float64(panelHeight - 20)
		hi := 0.0
		for _, l := range panel.lines {
			for _, v := range l.values {
				if !math.IsNaN(v) {
					hi = max(hi, v)
				}
			}
		}
		if hi == 0 {
			hi = 1
		}
		hi *= 1.1
		fmt.Fprintf(&b, `<text x="%d" y="%.0f">%s</text>`+"\n", left, y0-6, html.EscapeString(panel.title))
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`+"\n", left, y0, plotW, h)
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%s</text>`+"\n", left-4, y0+10, FormatValue(hi))
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">0</text>`+"\n", left-4, y0+h)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end">row %d</text>`+"\n", float64(left)+plotW, y0+h+14, len(table))
		x := func(i int) float64 {
			if len(table) <= 1 {
				return float64(left) + plotW/2
			}
			return float64(left) + plotW*float64(i)/float64(len(table)-1)
		}
		for n, l := range panel.lines {
			var path bytes.Buffer
			pen := "M"
			for i, v := range l.values {
				if math.IsNaN(v) {
					pen = "M"
					continue
				}
				fmt.Fprintf(&path, "%s%.1f %.1f ", pen, x(i), y0+h-h*v/hi)
				pen = "L"
			}
			if path.Len() > 0 {
				fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.5"/>`+"\n", bytes.TrimSpace(path.Bytes()), l.color)
			}
			ly := y0 + 12 + float64(n)*16
			fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="2"/>`+"\n", float64(left)+plotW+10, ly-4, float64(left)+plotW+26, ly-4, l.color)
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text>`+"\n", float64(left)+plotW+30, ly, html.EscapeString(l.name))
		}
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
