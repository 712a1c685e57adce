//go:build !unix

package feed

import "net"

// newRawConn has no non-blocking path on this platform: subscribers are
// written by a goroutine each.
func newRawConn(c net.Conn) Conn { return nil }
