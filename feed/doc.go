// Package feed is livefeed's vocabulary, for every part of it and for
// programs that talk to it: an Update a publisher submits (read from a
// publish's JSON envelope by ParsePublish and ParseLine) and the Event
// the log makes of it (its ID and time), topics and the filters that
// select them, the registry of validated types (score, tick) and what
// every event's data must be, the CSV form of events, the one table of
// error kinds (with their HTTP statuses and metric reasons), and Log, the
// one seam where events get their IDs.
//
// feed is the bottom floor of three. It and the packages under it
// (fanout, client, archive, demo, logtest, poll, bench) import only feed
// and the standard library and their own dependencies: neither SQLite
// (store/, the second floor) nor the server (handlers/, the top floor).
// What only the server does — HTTP, configuration, wiring a node, the
// command line — does not belong here.
package feed
