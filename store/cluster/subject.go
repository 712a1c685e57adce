package cluster

import (
	"fmt"
	"strings"
)

// A topic is one subject of the stream, so that "the latest event of this
// topic" is the stream's last message on that subject, which a publish can
// be made conditional on (the console's "+3 on the score stored now").
// NATS separates a subject's tokens with '.', which topics may hold; so
// '/' becomes '.' and '.' becomes '~', which topics never hold: reversible,
// one token per segment, as long as the topic (at most 128 bytes, far
// below the 4,096 bytes of a NATS control line).

// subjectOf returns the subject of topic under prefix ("livefeed").
func subjectOf(prefix, topic string) string {
	var b strings.Builder
	b.Grow(len(prefix) + 1 + len(topic))
	b.WriteString(prefix)
	b.WriteByte('.')
	for i := 0; i < len(topic); i++ {
		switch c := topic[i]; c {
		case '/':
			b.WriteByte('.')
		case '.':
			b.WriteByte('~')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// topicOf returns the topic of a subject under prefix, or an error for a
// subject livefeed would not have made.
func topicOf(prefix, subject string) (string, error) {
	rest, ok := strings.CutPrefix(subject, prefix+".")
	if !ok || rest == "" {
		return "", fmt.Errorf("subject %q is not under %q", subject, prefix)
	}
	b := []byte(rest)
	for i, c := range b {
		switch c {
		case '.':
			b[i] = '/'
		case '~':
			b[i] = '.'
		case '/':
			return "", fmt.Errorf("subject %q holds a '/'", subject)
		}
	}
	return string(b), nil
}

// prefixOf returns the subject prefix of a stream's subjects pattern:
// "livefeed.>" gives "livefeed".
func prefixOf(subjects string) (string, error) {
	p, ok := strings.CutSuffix(subjects, ".>")
	if !ok || p == "" || strings.ContainsAny(p, " *>\t") {
		return "", fmt.Errorf("cluster.subjects %q: must be a subject prefix followed by \".>\", such as \"livefeed.>\"", subjects)
	}
	for _, tok := range strings.Split(p, ".") {
		if tok == "" {
			return "", fmt.Errorf("cluster.subjects %q has an empty token", subjects)
		}
	}
	return p, nil
}
