package handlers

import (
	"crypto/sha256"
	"sync"
)

// bodyBudget bounds the memory that publish bodies being read can take,
// in all and per publish token: a body is read whole before it is parsed,
// and up to server.max_body_bytes of it can be held for as long as the
// server's read timeout while a client sends it slowly. Without a bound,
// a token's holder opening many such publishes at once could make the
// server hold any amount.
type bodyBudget struct {
	total, perToken int64

	mu     sync.Mutex
	used   int64
	tokens map[[sha256.Size]byte]int64
}

// The budget, in bodies of the largest size: 64 in all (64 MiB with the
// default server.max_body_bytes), 16 per token. Bodies declare their
// length, and small ones take only that: 16 publishers of ticks (W4) use
// a few KiB of it.
const (
	bodiesInAll      = 64
	bodiesPerToken   = 16
	bodyBudgetRetry  = "1" // seconds, the Retry-After of a refusal
	minBodyLimitSize = 1 << 20
)

func newBodyBudget(maxBody int64) *bodyBudget {
	maxBody = max(maxBody, minBodyLimitSize)
	return &bodyBudget{total: bodiesInAll * maxBody, perToken: bodiesPerToken * maxBody, tokens: make(map[[sha256.Size]byte]int64)}
}

// acquire takes n bytes for a body of token's, or reports false when the
// token's share or the whole budget would be exceeded.
func (b *bodyBudget) acquire(token [sha256.Size]byte, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.total || b.tokens[token]+n > b.perToken {
		return false
	}
	b.used += n
	b.tokens[token] += n
	return true
}

// inUse is what is taken.
func (b *bodyBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// release gives back what acquire took.
func (b *bodyBudget) release(token [sha256.Size]byte, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.tokens[token] -= n; b.tokens[token] <= 0 {
		delete(b.tokens, token)
	}
}
