package bench

import (
	"os"
	"path/filepath"
	"slices"
	"time"
)

// fsyncSamples is how many fsyncs fsyncLatency times before and after a
// run.
const fsyncSamples = 20

// fsyncLatency starts timing fsync on the disk of the database: it
// rewrites and syncs one 4 KiB page fsyncSamples times now, and as many
// again when the returned function is called, which returns the median of
// all. With synchronous = "full" every commit waits for one, and on a
// virtual machine its time varies tenfold from one minute to the next, so
// W4 reports it beside its figures.
func (r *runner) fsyncLatency() func() (time.Duration, error) {
	dir := r.cfg.FsyncDir
	if dir == "" && r.cfg.DB != "" {
		dir = filepath.Dir(r.cfg.DB)
	}
	if dir == "" {
		dir = os.TempDir()
	}
	var times []time.Duration
	first := timeFsync(dir, &times)
	return func() (time.Duration, error) {
		if first != nil {
			return 0, first
		}
		if err := timeFsync(dir, &times); err != nil {
			return 0, err
		}
		slices.Sort(times)
		return times[len(times)/2], nil
	}
}

// timeFsync appends the time of fsyncSamples page writes with fsync in a
// temporary file in dir to times.
func timeFsync(dir string, times *[]time.Duration) error {
	f, err := os.CreateTemp(dir, "livefeed-bench-fsync-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	for i := range fsyncSamples {
		page[0] = byte(i)
		start := time.Now()
		if _, err := f.WriteAt(page, 0); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		*times = append(*times, time.Since(start))
	}
	return nil
}
