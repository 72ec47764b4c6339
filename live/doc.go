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
//   - Config.MaxTenantSubscribers caps one tenant's subscriptions on a hub
//     (ErrTooManySubscribers).
//   - Shared subscriptions (Feed): a transport that runs one GraphQL subscription for many
//     subscribers holds one DeltasOnly, Shared subscription for the group (never ended for
//     lagging: it coalesces by key past Buffer) and gives each subscriber its own start
//     with an InitialOnly subscription, whose OnAttach reports the Seq S its snapshot or
//     replay holds; the subscriber then gets the group's events with Seq > S. The group's
//     StreamInfo counts its members (SetShares).
//
// Replicas (Config.Bus). The bus sits between a stream's owner (the replica holding the
// upstream connection) and every replica's subscribers. Without a Bus the hub owns every
// stream itself. With a NATSBus, each replica that has subscribers for a key runs the same
// stream loop:
//
//   - Ownership is a lease in a JetStream key-value bucket (key tenant.source.topic.i<hash of
//     the identity>, value replica id and a nonce; the bucket's TTL is the lease TTL). Create
//     is atomic, so of two replicas racing for a key exactly one wins. The owner renews every
//     TTL/3 and closes the upstream once the lease may have expired unrenewed (two renewals
//     missed), before any other replica can have taken it; a closing owner deletes the lease
//     so another replica takes over at once, a dead one is replaced when the TTL expires.
//     The others retry every TTL/3 (jittered).
//   - The owner publishes each change and its health on the core NATS subject
//     <prefix>.<tenant>.<source>.<topic>.i<hash>.events (tenant and source appear as
//     themselves when they are plain tokens, so per-tenant permissions are possible) and
//     answers snapshot requests on ...snapshot. Values cross as bytes of Config.Codec
//     (ModelCodec by default); Event.Seq travels with them, so all replicas number events
//     alike and a resume cursor from one replica works on another.
//   - The other replicas mirror the state: a mirror applies a change only when its Prev
//     equals the mirror's seq; otherwise (a lost message, a NATS outage, a new owner that
//     saw less) it fetches a snapshot, keeps what arrives meanwhile, and gives its
//     subscribers a RESYNC when the state differs. Subscriptions to a mirror that never had
//     state start at its first sync. State, snapshots and resume work on every replica;
//     a mirror's replay window starts at its last sync.
//   - Every lease acquisition has a larger epoch; mirrors drop messages of former owners.
//     A replica that takes over continues from its mirror's seq plus 1<<32, so cursors of
//     events it never saw get the diff against the upstream's state, not other events
//     under the same numbers.
//   - When NATS is unreachable the streams report DEGRADED ("bus unavailable: ...") and, once
//     the lease may have lapsed, nobody holds the upstream: a NATS outage stops live data
//     rather than letting two replicas connect. After reconnecting, one replica takes the
//     lease and the others resync.
//
// Values are shared by every subscriber and by State: drivers must not mutate a value after
// handing it to the Sink, and readers must treat values as read-only.
package live
