// Package live is the hub between upstream live streams and GraphQL subscribers: it holds
// one upstream connection per (tenant, source, credentials identity, topic) however many
// subscribers share it, keeps the stream's current state, and fans changes out.
//
// Design:
//
//   - A stream is started by its first Subscribe and owned by one goroutine that calls the
//     Opener in a loop, reconnecting with exponential backoff and full jitter (the attempt
//     counter resets after a connection that delivered data). Subscribers are reference
//     counted; the stream is stopped Config.Linger after the last one leaves, so a page
//     reload does not reconnect upstream. The Opener of the first subscriber is the one used.
//   - The stream keeps the keyed state (active calls, agents, queues). Sink.Reset is diffed
//     against it, so a reconnect emits only what changed; unchanged Upserts emit nothing.
//     Live queries (Hub.State) read the same state the subscribers see.
//   - Every emitted event gets the stream's next Seq. Seqs start from the wall clock for each
//     stream incarnation, so a resume cursor from a stream that was closed (or from another
//     process) falls outside the replay window and gets a RESYNC snapshot instead of
//     events of a different stream. The last Config.Replay events are kept for resume.
//   - A new subscription is attached under the stream's lock: it gets the snapshot (all
//     items with the current Seq, kind SNAPSHOT) and then every later event, without gap or
//     duplicate. A resume gets the missed events, or a RESYNC snapshot (one RESYNC event with
//     an empty Key and nil Value when the state is empty, so the client still learns to
//     clear its view).
//   - Fan-out never blocks the stream goroutine: each subscription has its own queue and a
//     goroutine that moves events to its channel. The initial snapshot or replay does not
//     count against Config.Buffer. When more than Buffer deltas are queued, a new event
//     replaces the queued one for the same key (latest wins; a not yet delivered snapshot
//     entry is patched in place); an event for a key not queued ends the subscription with
//     ErrSlowConsumer. A stalled subscriber never delays the others.
//
// Values are shared by every subscriber and by State: drivers must not mutate a value after
// handing it to the Sink, and readers must treat values as read-only.
package live
