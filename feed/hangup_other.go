//go:build !linux

package feed

import "syscall"

// hangups is Linux-only; elsewhere a departed client is noticed when the
// next heartbeat fails.
type hangups struct{}

func newHangups() *hangups                                       { return nil }
func (h *hangups) watch(s *Subscriber, c syscall.RawConn) uint64 { return 0 }
func (h *hangups) forget(key uint64)                             {}
func (h *hangups) stop()                                         {}
