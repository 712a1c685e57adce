package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// RowCounter counts the records of a CSV stream (RFC 4180) written to it:
// line breaks outside quoted fields, so a field holding a line break does
// not count as a row. A doubled quote inside a quoted field leaves and
// re-enters the quotes, which counts the same.
type RowCounter struct {
	inQuote bool
	records int64
	bytes   int64
	last    byte
}

var _ io.Writer = (*RowCounter)(nil)

// Write counts the records in p.
func (c *RowCounter) Write(p []byte) (int, error) {
	c.bytes += int64(len(p))
	if len(p) > 0 {
		c.last = p[len(p)-1]
	}
	for i := 0; i < len(p); {
		if c.inQuote {
			j := bytes.IndexByte(p[i:], '"')
			if j < 0 {
				break
			}
			i += j + 1
			c.inQuote = false
			continue
		}
		switch p[i] {
		case '"':
			c.inQuote = true
		case '\n':
			c.records++
		}
		i++
	}
	return len(p), nil
}

// Records returns the number of records, the header included; a last
// record without a final line break counts too.
func (c *RowCounter) Records() int64 {
	if c.bytes > 0 && c.last != '\n' {
		return c.records + 1
	}
	return c.records
}

// Bytes returns the bytes counted.
func (c *RowCounter) Bytes() int64 { return c.bytes }

// w6Topic is W6's topic: it keeps its rows from one run to the next.
const w6Topic = "bench/w6"

// runExport measures W6: downloading a CSV export of many rows.
func runExport(ctx context.Context, r *runner, p Params) (Figures, error) {
	f, rows, err := r.measureExport(ctx, w6Topic)
	if err != nil {
		return nil, err
	}
	if rows < p.Rows {
		r.progress("%s has %d rows; publishing %d more", w6Topic, rows, p.Rows-rows)
		start := time.Now()
		n, err := Fill(ctx, r.target, p.Rows-rows, p.Publishers, 0, p.Payload, w6Topic)
		if err != nil {
			return nil, fmt.Errorf("filling %s: %w", w6Topic, err)
		}
		r.progress("published %d events in %.1f s", n, time.Since(start).Seconds())
		if f, _, err = r.measureExport(ctx, w6Topic); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// measureExport downloads the export of topic, sampling the server's RSS
// every 20 ms meanwhile.
func (r *runner) measureExport(ctx context.Context, topic string) (Figures, int64, error) {
	u := "http://" + r.target.Host + "/api/export.csv?topic=" + url.QueryEscape(topic)
	client := &http.Client{Transport: &http.Transport{
		DialContext:        func(ctx context.Context, _, _ string) (net.Conn, error) { return r.target.Dial(ctx, 0, 0) },
		DisableCompression: true,
	}}
	defer client.CloseIdleConnections()

	before := r.sample()
	peakRSS := r.samplePeakRSS(20 * time.Millisecond)
	r.progress("GET %s", u)
	start := time.Now()
	var rc RowCounter
	err := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
			return fmt.Errorf("GET /api/export.csv: %s: %s", resp.Status, body)
		}
		_, err = io.CopyBuffer(&rc, resp.Body, make([]byte, 256<<10))
		return err
	}()
	elapsed := time.Since(start)
	peak := peakRSS()
	after := r.sample()
	if err != nil {
		return nil, 0, err
	}
	rows := max(rc.Records()-1, 0) // less the header
	var f Figures
	f.Add("rows", float64(rows))
	f.Add("export_s", elapsed.Seconds())
	f.Add("rows_per_s", float64(rows)/elapsed.Seconds())
	f.Add("export_mb", float64(rc.Bytes())/(1<<20))
	if before.ok {
		f.Add("server_rss_before_mb", float64(before.serverRSS)/1024)
		f.Add("server_rss_max_mb", float64(peak)/1024)
		f.Add("server_rss_growth_mb", float64(peak-before.serverRSS)/1024)
		f.Add("server_cpu_us_per_row", float64(after.serverCPU-before.serverCPU)/float64(time.Microsecond)/float64(max(rows, 1)))
	}
	f.Add("client_cpu_us_per_row", float64(after.selfCPU-before.selfCPU)/float64(time.Microsecond)/float64(max(rows, 1)))
	return f, rows, nil
}
