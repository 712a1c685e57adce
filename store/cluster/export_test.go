package cluster

import "time"

// SetCheckEvery sets how often a node checks the stream while following
// it, until the returned function restores the default.
func SetCheckEvery(d time.Duration) (restore func()) {
	was := checkEvery
	checkEvery = d
	return func() { checkEvery = was }
}

// LoseDelivery has the next delivery to n of the stream's message seq
// lost on its way, as a message in flight when a fetch ends is.
func LoseDelivery(n *Node, seq int64) { n.lose.Store(seq) }
