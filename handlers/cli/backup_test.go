package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"livefeed/feed"
	"livefeed/feed/client"
	"livefeed/feed/poll"
	"livefeed/handlers/cli"
	"livefeed/handlers/node"
	"livefeed/handlers/node/nodetest"
	"livefeed/store"
)

// TestBackupWhileServing takes a backup with `livefeed backup` while
// publishers keep writing: the copy is consistent (every event up to its
// newest ID, nothing half-written), opens as a livefeed database, and the
// command says up to which ID it holds events.
func TestBackupWhileServing(t *testing.T) {
	t.Parallel()
	cfg := nodetest.Config(t)
	n := nodetest.Start(t, cfg, node.Options{})
	stop := make(chan struct{})
	var pubs sync.WaitGroup
	for p := range 4 {
		pubs.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := nodetest.Publish(nil, n.URL, nodetest.Note(fmt.Sprintf("t/%d", p), i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	poll.Until(t, "event 200", func() bool {
		ids, _ := nodetest.Publish(nil, n.URL, nodetest.Note("mark", 0))
		return len(ids) > 0 && ids[0] > 200
	})
	out := filepath.Join(t.TempDir(), "backup.db")
	stdout, _, err := run(context.Background(), cli.Backup, tokenEnv(""), nil, "-db", cfg.Store.Path, out)
	close(stop)
	pubs.Wait()
	if err != nil {
		t.Fatal(err)
	}
	b, err := store.Open(out, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	all, err := feed.ParseFilter([]string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	events, err := b.After(context.Background(), 0, all, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range events {
		if e.ID != int64(i+1) {
			t.Fatalf("backup: event %d has ID %d", i, e.ID)
		}
	}
	if n := int64(len(events)); n < 200 || n != b.LastID() {
		t.Fatalf("backup has %d events, last ID %d", n, b.LastID())
	}
	// It says what the copy holds: the events up to the snapshot's.
	if want := fmt.Sprintf("backed up %s to %s: events up to ID %d, ", cfg.Store.Path, out, b.LastID()); !strings.HasPrefix(stdout, want) || !regexp.MustCompile(`, [0-9.]+ (KB|MB)\n$`).MatchString(stdout) {
		t.Fatalf("backup said %q, want %q and the copy's size", stdout, want)
	}
}

// TestRestore restores an older backup: IDs clients have seen are never
// given out again, a client that saw events newer than the backup gets a
// reset, and one at the backup's newest event resumes normally.
func TestRestore(t *testing.T) {
	t.Parallel()
	cfg := nodetest.Config(t)
	db := cfg.Store.Path
	backupFile := filepath.Join(t.TempDir(), "backup.db")
	n := nodetest.Start(t, cfg, node.Options{})
	for i := range 10 {
		nodetest.MustPublish(t, n.URL, nodetest.Note("a", i))
	}
	if _, _, err := run(context.Background(), cli.Backup, tokenEnv(""), nil, "-db", db, backupFile); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		nodetest.MustPublish(t, n.URL, nodetest.Note("a", 10+i)) // 11..20, lost by the restore
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	out, _, err := run(context.Background(), cli.Restore, tokenEnv(""), nil, "-db", db, backupFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "the next event gets ID 21") {
		t.Fatalf("restore said %q", out)
	}
	n = nodetest.Start(t, cfg, node.Options{})
	for _, pos := range []string{"15", "20", "25"} {
		_, br := nodetest.Stream(t, n.URL, "/events?topic=a", "Last-Event-ID: "+pos)
		if ev, err := client.NewReader(br).Next(); err != nil || ev.Type != "reset" || !strings.Contains(ev.Data, `"ahead"`) {
			t.Fatalf("position %s after the restore: %+v, %v; want a reset", pos, ev, err)
		}
	}
	c, br := nodetest.Stream(t, n.URL, "/events?topic=a", "Last-Event-ID: 10")
	if ids := nodetest.MustPublish(t, n.URL, nodetest.Note("a", 99)); ids[0] != 21 {
		t.Fatalf("first ID after the restore %d, want 21", ids[0])
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if ev, err := client.NewReader(br).Next(); err != nil || ev.ID != "21" {
		t.Fatalf("a client at the backup's newest event: %+v, %v", ev, err)
	}
}

// TestStoreCommandsTakeFlagsAfterTheArgument: backup FILE -db X and
// restore BACKUP -db X work like the flags-first forms.
func TestStoreCommandsTakeFlagsAfterTheArgument(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, backupFile, restored := filepath.Join(dir, "feed.db"), filepath.Join(dir, "backup.db"), filepath.Join(dir, "restored.db")
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(context.Background(), []feed.Update{{Topic: "a", Type: "note", Data: json.RawMessage(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, _, err := run(context.Background(), cli.Backup, tokenEnv(""), nil, backupFile, "-db", db); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(context.Background(), cli.Restore, tokenEnv(""), nil, backupFile, "-db", restored)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "restored "+restored+" from "+backupFile) {
		t.Fatalf("restore said %q", out)
	}
}
