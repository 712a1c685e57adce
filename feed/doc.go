// Package feed is livefeed's vocabulary, for every part of it and for
// programs that talk to it: an Update a publisher submits (read from a
// publish's JSON envelope by ParsePublish and ParseLine) and the Event
// the log makes of it (its ID and time), topics and the filters that
// select them, the score and tick schema and what every event's data must
// be, the CSV form of events, and the kinds of error.
//
// It imports neither SQLite nor HTTP. The packages around it do one thing
// each: store keeps events in SQLite and gives them their IDs, fanout
// streams committed events to subscribers, handlers is the HTTP
// interface, client is the Go client of that interface.
package feed
