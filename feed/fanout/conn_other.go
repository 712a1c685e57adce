//go:build !unix

package fanout

import "net"

// newRawConn has no non-blocking path on this platform: subscribers are
// written by a goroutine each.
func newRawConn(c net.Conn) Conn { return nil }

// OpenFileLimit returns 0: the limit on open files is not known here.
func OpenFileLimit() int { return 0 }
