package cluster

import "time"

// SetCheckEvery sets how often a node checks the stream while following
// it, until the returned function restores the default.
func SetCheckEvery(d time.Duration) (restore func()) {
	was := checkEvery
	checkEvery = d
	return func() { checkEvery = was }
}
