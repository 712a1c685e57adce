package feed

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
)

// MaxIdempotencyKey bounds the key a publisher gives a publish, in the
// Idempotency-Key header or a line's "idempotency_key": a UUID is 36
// characters; 255 leaves room for any scheme of a publisher's own.
const MaxIdempotencyKey = 255

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

// Request is what makes a publish the request it is, for its Fingerprint:
// whether it was an array, and the topic, type and data of each of its
// events, the data without the whitespace between its JSON tokens. The
// same events written with other spacing, or with their envelope's fields
// in another order, are the same request, and a retry of it; anything else
// that differs (a value, the order of the data's members) makes another.
func Request(batch bool, updates []Update) []byte {
	var b bytes.Buffer
	if batch {
		b.WriteString("batch")
	}
	for _, u := range updates {
		b.WriteByte(0)
		b.WriteString(u.Topic)
		b.WriteByte(0)
		b.WriteString(u.Type)
		b.WriteByte(0)
		if json.Compact(&b, u.Data) != nil {
			b.Write(u.Data) // refused later, as it is not JSON
		}
	}
	return b.Bytes()
}
