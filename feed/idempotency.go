package feed

import "crypto/sha256"

// Idempotency makes a publish safe to retry (the Idempotency-Key header,
// IETF draft "The Idempotency-Key HTTP Header Field"): a publisher whose
// connection broke before the reply cannot know whether its events were
// committed, and sends the request again with the same key.
type Idempotency struct {
	// Key identifies the publish: the publisher and the key it chose, so
	// that two publishers choosing the same key never meet.
	Key [sha256.Size]byte
	// Fingerprint identifies the request: a retry must be the same
	// request, or the key was reused by mistake.
	Fingerprint [sha256.Size]byte
}

// NewIdempotency returns the Idempotency of a request sent by publisher
// (a name only the server gives it: a token's digest, an operator) with
// key; request is what makes it that request (its body).
func NewIdempotency(publisher, key string, request []byte) Idempotency {
	h := sha256.New()
	h.Write([]byte(publisher))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var id Idempotency
	h.Sum(id.Key[:0])
	id.Fingerprint = sha256.Sum256(request)
	return id
}
