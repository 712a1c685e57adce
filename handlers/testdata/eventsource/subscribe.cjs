// subscribe.cjs: a subscriber using npm's eventsource package, the most used
// EventSource client for Node, as a user's program would: it opens one
// EventSource and lets the package reconnect by itself (with Last-Event-ID)
// whenever the stream drops.
//
//   NODE_PATH=<node_modules with eventsource> node subscribe.cjs URL TYPE...
//
// It listens for the event types named, and for unnamed events (what a
// generic onmessage handler sees), and writes each one it is handed as a
// line of JSON on standard output:
//
//   {"type":"note","lastEventId":"7","data":"{\"id\":7,...}"}
//
// Opens and errors go to standard error. It exits when its standard input
// ends, so that it never outlives the Go test that drives it
// (TestNodeEventSourceAcrossRestarts).
'use strict'

const { EventSource } = require('eventsource')

const [url, ...types] = process.argv.slice(2)
if (!url) {
  process.stderr.write('usage: node subscribe.cjs URL TYPE...\n')
  process.exit(2)
}

const es = new EventSource(url)

function report(e) {
  process.stdout.write(JSON.stringify({ type: e.type, lastEventId: e.lastEventId, data: e.data }) + '\n')
}

for (const type of types) es.addEventListener(type, report)
es.onmessage = report
es.onopen = () => process.stderr.write('open\n')
es.onerror = (e) => process.stderr.write(`error: ${e.message || 'disconnected'}\n`)

process.stdin.on('end', () => {
  es.close()
  process.exit(0)
})
process.stdin.resume()
