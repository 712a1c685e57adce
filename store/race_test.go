//go:build race

package store_test

// raceEnabled is set when the tests run under the race detector, which
// slows SQLite (Go code, instrumented too) several times.
const raceEnabled = true
