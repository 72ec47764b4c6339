package wstransport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// outMsg is a message waiting in a connection's queue. payload may be shared by many
// connections (a shared subscription's encoded event) and is never modified.
type outMsg struct {
	id, typ string
	payload []byte
	// key is the live item the message is about; a queue at its limit replaces the queued
	// message of the same operation and key (latest wins). Empty: never replaced.
	key string
	// final messages (an operation's last error, complete) are queued even at the limit.
	final bool
}

// push queues m for the connection's writer; false when the queue is at its limit and
// holds no message for m's operation and key to replace (the caller ends that operation),
// or the connection is closing. Never blocks: a shared subscription calls it for every
// subscriber in turn.
func (c *conn) push(m outMsg) bool {
	ok, wake := c.enqueue(m)
	if wake {
		c.shared.writers.schedule(c)
	}
	return ok
}

// enqueue is push for a caller that queues for many connections: wake says c must be
// handed to the writers (writers.scheduleAll), which enqueue leaves to the caller.
func (c *conn) enqueue(m outMsg) (ok, wake bool) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.qclosed {
		return false, false
	}
	// Once a quarter of the limit waits, the subscriber is behind: an event whose key
	// still has one waiting replaces it (latest wins; the older value was never seen),
	// moved to the back so that the operation's events stay in order. Only what cannot
	// be coalesced fills the queue up to the limit.
	if behind := len(c.queue) >= max(c.cfg.QueueLimit/4, 1); behind && !m.final {
		if i := c.lastQueued(m.id, m.key); i >= 0 {
			copy(c.queue[i:], c.queue[i+1:])
			c.queue[len(c.queue)-1] = m
			return true, false
		}
		if len(c.queue) >= c.cfg.QueueLimit {
			return false, false
		}
	}
	if c.qbox == nil {
		c.qbox = c.shared.queues.Get().(*[]outMsg)
		c.queue = (*c.qbox)[:0]
	}
	c.queue = append(c.queue, m)
	if c.flushing {
		return true, false
	}
	c.flushing = true
	return true, true
}

func (c *conn) lastQueued(id, key string) int {
	if key == "" {
		return -1
	}
	for i := len(c.queue) - 1; i >= 0; i-- {
		if q := c.queue[i]; q.id == id && q.key == key && !q.final {
			return i
		}
	}
	return -1
}

// purge drops the queued messages of operation id (the client stopped it).
func (c *conn) purge(id string) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	c.queue = slices.DeleteFunc(c.queue, func(m outMsg) bool { return m.id == id })
}

// closeQueue stops queueing; a write in progress ends with the connection.
func (c *conn) closeQueue() {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	c.qclosed = true
	c.queue, c.qbox = nil, nil
}

// closing reports whether the connection stopped queueing (it is ending).
func (c *conn) closing() bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.qclosed
}

// recycle returns a written batch (from take) for other connections' queues.
func (c *conn) recycle(batch *[]outMsg) {
	if batch == nil || cap(*batch) > 4*c.cfg.QueueLimit {
		return
	}
	clear(*batch)
	*batch = (*batch)[:0]
	c.shared.queues.Put(batch)
}

// awaitFlushed waits up to d until the queue is written.
func (c *conn) awaitFlushed(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		c.qmu.Lock()
		done := !c.flushing || c.qclosed
		c.qmu.Unlock()
		if done {
			return
		}
	}
}

// take removes the queued messages for writing, in their pooled slice (see recycle); nil
// (and the connection is no longer flushing) when there are none.
func (c *conn) take() *[]outMsg {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if len(c.queue) == 0 || c.qclosed {
		c.flushing = false
		if c.qbox != nil && !c.qclosed { // an idle connection keeps no buffer
			c.shared.queues.Put(c.qbox)
		}
		c.queue, c.qbox = nil, nil
		return nil
	}
	batch := c.qbox
	*batch = c.queue
	c.queue, c.qbox = nil, nil
	return batch
}

// writers write the queued messages of every connection of a Transport: a few goroutines
// take connections in turn, each writing everything its connection has queued with one
// system call, so a connection gets larger batches as load grows, and thousands of
// connections with something to write do not mean thousands of goroutines. A write that
// cannot finish at once (the client reads slowly) is finished by a goroutine of the
// connection's own, which keeps writing for it until its queue is empty.
type writers struct {
	max int

	mu     sync.Mutex
	dirty  []*conn // connections with something queued, in turn, from head on
	head   int
	active int
	wg     sync.WaitGroup
}

// blockedAfter is how long a shared writer waits on one connection's socket before
// leaving the rest to a goroutine of that connection.
const blockedAfter = time.Millisecond

func (w *writers) schedule(c *conn) { w.scheduleAll([]*conn{c}) }

// scheduleAll hands cs to the writers in one go: a shared subscription's event makes
// thousands of connections ready at once.
func (w *writers) scheduleAll(cs []*conn) {
	if len(cs) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.head > 0 && w.head >= len(w.dirty)/2 {
		// Under load the ring is never empty: what was taken is dropped here, in amortized
		// constant time, or the array would grow with every write.
		n := copy(w.dirty, w.dirty[w.head:])
		clear(w.dirty[n:])
		w.dirty, w.head = w.dirty[:n], 0
	}
	w.dirty = append(w.dirty, cs...)
	for w.active < w.max && w.active < len(w.dirty)-w.head {
		w.active++
		w.wg.Go(w.run)
	}
}

func (w *writers) next() *conn {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.head == len(w.dirty) {
		w.active--
		w.dirty, w.head = w.dirty[:0], 0 // the array is kept for the next event
		return nil
	}
	c := w.dirty[w.head]
	w.dirty[w.head] = nil
	w.head++
	return c
}

// run writes for connections until none has anything queued.
func (w *writers) run() {
	for c := w.next(); c != nil; c = w.next() {
		c.flushOnce(w)
	}
}

// flushOnce writes what c has queued, then puts c back in turn if more came meanwhile.
func (c *conn) flushOnce(w *writers) {
	batch := c.take()
	if batch == nil {
		return
	}
	err := c.writeBatch(*batch, blockedAfter)
	c.recycle(batch)
	switch {
	case errors.Is(err, errBlocked):
		c.qmu.Lock()
		if !c.qclosed {
			c.wg.Go(c.flushSlow)
		}
		c.qmu.Unlock()
		return
	case err != nil:
		c.log.Debug("writing queued messages", "err", err)
		c.closeQueue()
		return
	}
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if len(c.queue) > 0 && !c.qclosed {
		w.schedule(c)
	} else {
		c.flushing = false
	}
}

// flushSlow finishes a blocked write and writes for c until its queue is empty.
func (c *conn) flushSlow() {
	for batch := (*[]outMsg)(nil); ; batch = c.take() {
		var msgs []outMsg
		if batch != nil {
			msgs = *batch
		}
		err := c.writeBatch(msgs, 0)
		c.recycle(batch)
		if err != nil {
			c.log.Debug("writing queued messages", "err", err)
			c.closeQueue()
			return
		}
		c.qmu.Lock()
		empty := len(c.queue) == 0
		if empty {
			c.flushing = false
		}
		c.qmu.Unlock()
		if empty {
			return
		}
	}
}

// writeBatch writes batch (and whatever an earlier blocked write left) in one batch;
// with limit > 0, errBlocked when the socket takes longer than limit.
func (c *conn) writeBatch(batch []outMsg, limit time.Duration) error {
	return c.write(context.Background(), limit, func() error {
		for _, m := range batch {
			msg := message{ID: m.id, Type: m.typ, Payload: m.payload}
			if c.cork != nil {
				c.cork.appendMessage(msg)
				continue
			}
			b, err := frame(msg)
			if err != nil {
				return fmt.Errorf("encoding %s message: %w", m.typ, err)
			}
			if err := c.ws.Write(context.Background(), websocket.MessageText, b); err != nil {
				return fmt.Errorf("writing %s message: %w", m.typ, err)
			}
		}
		return nil
	})
}

// write runs f, which writes messages with c.ws, as one batch unless ctx is done: the
// frames collect in the connection's buffer and leave in one system call (see corkConn;
// limit as in writeBatch). The writes get a context that never ends (cancelling a
// write's context tears the socket down, and a stopped operation must not cut its own
// write short); the connection's write watchdog bounds them instead, without a timer per
// message.
func (c *conn) write(ctx context.Context, limit time.Duration, f func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if limit <= 0 || c.cork == nil { // a write that may wait
		if c.watchdog == nil {
			c.watchdog = time.AfterFunc(c.cfg.WriteTimeout, c.stalled)
		} else {
			c.watchdog.Reset(c.cfg.WriteTimeout)
		}
		defer c.watchdog.Stop()
	}
	if c.cork != nil {
		c.cork.hold()
	}
	err := f()
	if c.cork != nil {
		if ferr := c.cork.release(limit); err == nil {
			err = ferr
		}
	}
	if err != nil && !errors.Is(err, errBlocked) {
		c.closed = true
	}
	return err
}

// stalled closes a connection whose write has waited WriteTimeout: its client stopped
// reading, and can be told nothing more. Like a subscription ended with SLOW_CONSUMER, it
// is logged and counted.
func (c *conn) stalled() {
	c.log.Warn("closing websocket: the client stopped reading", "blocked_for", c.cfg.WriteTimeout)
	if c.cfg.OnSlowConsumer != nil {
		c.cfg.OnSlowConsumer()
	}
	_ = c.ws.CloseNow()
}

// errBlocked is a write the socket did not take within its limit; the rest is kept.
var errBlocked = errors.New("write blocked")

// corkConn is the hijacked connection under a WebSocket: between hold and release its
// writes collect in a pooled buffer and go out as one. Other writes (the WebSocket
// library's own control frames) pass straight through, unless bytes of a blocked release
// wait: they queue behind them.
type corkConn struct {
	net.Conn
	pool *sync.Pool // of *[]byte; nil allocates
	// writeNow writes what the socket takes without waiting; nil: use a deadline.
	writeNow func(p []byte) (int, error)

	mu   sync.Mutex // held during release's write
	held bool
	buf  *[]byte // collected (held) or left by a blocked release; nil when empty
}

func (cc *corkConn) Write(p []byte) (int, error) {
	cc.mu.Lock()
	if cc.held || cc.buf != nil {
		defer cc.mu.Unlock()
		if cc.buf == nil {
			cc.buf = cc.newBuf()
		}
		*cc.buf = append(*cc.buf, p...)
		return len(p), nil
	}
	cc.mu.Unlock()
	return cc.Conn.Write(p)
}

func (cc *corkConn) newBuf() *[]byte {
	if cc.pool != nil {
		return cc.pool.Get().(*[]byte)
	}
	return new([]byte)
}

func (cc *corkConn) hold() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.held = true
	if cc.buf == nil {
		cc.buf = cc.newBuf()
	}
}

// appendMessage appends m as one WebSocket text frame to the held buffer, encoded as
// frame would: server frames are not masked, and a message need not be compressed even
// when permessage-deflate was negotiated (RSV1 unset), so the frame is written here
// rather than copied through the library's writer for every subscriber. Called between
// hold and release, under the connection's write lock; the library's own frames (pong,
// close) are appended whole by Write, so frames never interleave.
func (cc *corkConn) appendMessage(m message) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	id := m.ID
	quoted := jsonSafe(id)
	var idJSON []byte
	if !quoted {
		idJSON, _ = json.Marshal(id) // a string always encodes
	}
	n := len(`{"type":""}`) + len(m.Type)
	if id != "" {
		n += len(`"id":,`)
		if quoted {
			n += len(id) + 2
		} else {
			n += len(idJSON)
		}
	}
	if len(m.Payload) > 0 {
		n += len(`,"payload":`) + len(m.Payload)
	}
	b := append(*cc.buf, 0x81) // FIN, text
	switch {
	case n < 126:
		b = append(b, byte(n))
	case n < 1<<16:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, '{')
	if id != "" {
		b = append(b, `"id":`...)
		if quoted {
			b = append(append(append(b, '"'), id...), '"')
		} else {
			b = append(b, idJSON...)
		}
		b = append(b, ',')
	}
	b = append(append(append(b, `"type":"`...), m.Type...), '"')
	if len(m.Payload) > 0 {
		b = append(append(b, `,"payload":`...), m.Payload...)
	}
	*cc.buf = append(b, '}')
}

// jsonSafe reports whether s needs no escaping inside a JSON string.
func jsonSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// release writes what is buffered. With limit > 0 it gives up after limit, keeping the
// unwritten rest for the next release (errBlocked). The buffer goes back to the pool only
// once written.
func (cc *corkConn) release(limit time.Duration) error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.held = false
	if cc.buf == nil {
		return nil
	}
	buf := *cc.buf
	n, err := cc.writeOut(buf, limit)
	if err == nil && n < len(buf) {
		*cc.buf = buf[:copy(buf, buf[n:])]
		return errBlocked
	}
	if cap(buf) <= maxPooledBuffer && cc.pool != nil {
		*cc.buf = buf[:0]
		cc.pool.Put(cc.buf)
	}
	cc.buf = nil
	return err
}

// writeOut writes p, or with limit > 0 what the socket takes within limit (n < len(p)).
func (cc *corkConn) writeOut(p []byte, limit time.Duration) (int, error) {
	switch {
	case limit <= 0:
		return cc.Conn.Write(p)
	case cc.writeNow != nil:
		return cc.writeNow(p)
	}
	_ = cc.Conn.SetWriteDeadline(time.Now().Add(limit))
	n, err := cc.Conn.Write(p)
	_ = cc.Conn.SetWriteDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return n, err
}

// maxPooledBuffer keeps a burst's large buffer out of the pool.
const maxPooledBuffer = 64 << 10

// Buffer sizes of a hijacked connection: client messages are small, and writes are
// collected by corkConn, so the WebSocket library needs much less than net/http's 4 KiB
// each; with thousands of idle subscribers that is a tenth of the memory per connection.
const (
	readBufferSize  = 512
	writeBufferSize = 256
)

// lingerTimeout bounds how long Close reads what the client still sends (see Close).
const lingerTimeout = 250 * time.Millisecond

// Close closes the connection without losing the last frames to a reset: when the
// client's data is left unread (an oversized message is refused with close code 1009
// after its first bytes), closing at once answers it with a TCP reset, and the client may
// never see the close frame. So the write side is shut first and what arrives meanwhile
// is read and dropped until the client closes or lingerTimeout passes, as net/http does.
func (cc *corkConn) Close() error {
	if tc, ok := cc.Conn.(interface{ CloseWrite() error }); ok && tc.CloseWrite() == nil {
		_ = cc.Conn.SetReadDeadline(time.Now().Add(lingerTimeout))
		var buf [512]byte
		for {
			if _, err := cc.Conn.Read(buf[:]); err != nil {
				break
			}
		}
	}
	return cc.Conn.Close()
}

// corkingWriter hands the WebSocket library a corkConn when it hijacks the connection.
type corkingWriter struct {
	http.ResponseWriter
	sendBuffer int // SO_SNDBUF to set; <= 0: the system's
	pool       *sync.Pool
	conn       *corkConn // set by Hijack
}

func (w *corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		_ = nc.Close()
		return nil, nil, fmt.Errorf("flushing the upgrade response: %w", err)
	}
	sock := nc
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok { // TLS: the socket under it
		sock = tc.NetConn()
	}
	if sb, ok := sock.(interface{ SetWriteBuffer(int) error }); ok && w.sendBuffer > 0 {
		if err := sb.SetWriteBuffer(w.sendBuffer); err != nil {
			_ = nc.Close()
			return nil, nil, fmt.Errorf("setting the send buffer: %w", err)
		}
	}
	w.conn = &corkConn{Conn: nc, pool: w.pool, writeNow: nonBlockingWriter(nc)}
	// What the client sent after its upgrade request must be in the new reader's buffer,
	// where the WebSocket library looks for it.
	var pending []byte
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		pending = bytes.Clone(b)
	}
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(pending), w.conn), max(readBufferSize, len(pending)))
	if len(pending) > 0 {
		if _, err := br.Peek(len(pending)); err != nil {
			_ = nc.Close()
			return nil, nil, fmt.Errorf("keeping buffered client data: %w", err)
		}
	}
	return w.conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.conn, writeBufferSize)), nil
}
