//go:build !linux

package fanout

import "syscall"

// watcher is Linux-only; elsewhere a departed client is noticed when a
// write fails, and a subscriber whose socket is full is drained by a
// goroutine of its own.
type watcher struct{}

func newWatcher() *watcher                                     { return nil }
func (w *watcher) add(s *Subscriber, c syscall.RawConn) uint64 { return 0 }
func (w *watcher) writable(key uint64) bool                    { return false }
func (w *watcher) unsent(key uint64) int64                     { return -1 }
func (w *watcher) forget(key uint64)                           {}
func (w *watcher) stop()                                       {}
