package wstransport

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
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
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.qclosed {
		return false
	}
	if !m.final && len(c.queue) >= c.cfg.QueueLimit {
		i := c.lastQueued(m.id, m.key)
		if i < 0 {
			return false
		}
		// Move the key to the back so that the operation's events stay in order.
		copy(c.queue[i:], c.queue[i+1:])
		c.queue[len(c.queue)-1] = m
		return true
	}
	c.queue = append(c.queue, m)
	if !c.flushing {
		c.flushing = true
		c.wg.Go(c.flush)
	}
	return true
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

// closeQueue stops queueing; the writer goroutine, if running, ends after its batch.
func (c *conn) closeQueue() {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	c.qclosed = true
	c.queue = nil
}

// flush is the connection's writer while messages are queued: it takes everything queued
// and writes it with one system call, until the queue is empty. A connection that is idle
// has no writer goroutine; one whose client reads slowly collects larger batches.
func (c *conn) flush() {
	var batch []outMsg
	for {
		c.qmu.Lock()
		if len(c.queue) == 0 || c.qclosed {
			c.flushing = false
			c.queue = nil // an idle connection keeps no buffer
			c.qmu.Unlock()
			return
		}
		batch, c.queue = c.queue, batch[:0]
		c.qmu.Unlock()
		err := c.write(context.Background(), func() error {
			for i, m := range batch {
				b, err := frame(message{ID: m.id, Type: m.typ, Payload: m.payload})
				if err != nil {
					return fmt.Errorf("encoding %s message: %w", m.typ, err)
				}
				if err := c.ws.Write(context.Background(), websocket.MessageText, b); err != nil {
					return fmt.Errorf("writing %s message: %w", m.typ, err)
				}
				batch[i] = outMsg{}
			}
			return nil
		})
		if err != nil {
			c.log.Debug("writing queued messages", "err", err)
			c.closeQueue()
			c.qmu.Lock()
			c.flushing = false
			c.qmu.Unlock()
			return
		}
		batch = batch[:0]
	}
}

// write runs f, which writes messages with c.ws, as one batch unless ctx is done: the
// frames collect in the connection's buffer and leave in one system call. The writes get a
// context that never ends (cancelling a write's context tears the socket down, and a
// stopped operation must not cut its own write short); the connection's write watchdog
// bounds them instead, without a timer per message.
func (c *conn) write(ctx context.Context, f func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.watchdog == nil {
		c.watchdog = time.AfterFunc(writeTimeout, func() { _ = c.ws.CloseNow() })
	} else {
		c.watchdog.Reset(writeTimeout)
	}
	defer c.watchdog.Stop()
	if c.cork != nil {
		c.cork.hold()
	}
	err := f()
	if c.cork != nil {
		if ferr := c.cork.release(); err == nil {
			err = ferr
		}
	}
	if err != nil {
		c.closed = true
	}
	return err
}

// corkConn is the hijacked connection under a WebSocket: between hold and release its
// writes collect in a pooled buffer and go out as one. Writes outside (the WebSocket
// library's own control frames) pass straight through.
type corkConn struct {
	net.Conn
	pool *sync.Pool // of *[]byte; nil allocates

	mu   sync.Mutex
	held bool
	buf  *[]byte
}

func (cc *corkConn) Write(p []byte) (int, error) {
	cc.mu.Lock()
	if cc.held {
		defer cc.mu.Unlock()
		*cc.buf = append(*cc.buf, p...)
		return len(p), nil
	}
	cc.mu.Unlock()
	return cc.Conn.Write(p)
}

func (cc *corkConn) hold() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.held = true
	if cc.buf == nil {
		if cc.pool != nil {
			cc.buf = cc.pool.Get().(*[]byte)
		} else {
			cc.buf = new([]byte)
		}
	}
}

// release writes what was held. The buffer goes back to the pool only after the write:
// a connection whose client stalls keeps it until the write watchdog closes the socket.
func (cc *corkConn) release() error {
	cc.mu.Lock()
	cc.held = false
	buf := cc.buf
	cc.buf = nil
	cc.mu.Unlock()
	if buf == nil {
		return nil
	}
	_, err := cc.Conn.Write(*buf)
	if cap(*buf) <= maxPooledBuffer && cc.pool != nil {
		*buf = (*buf)[:0]
		cc.pool.Put(buf)
	}
	return err
}

// maxPooledBuffer keeps a burst's large buffer out of the pool.
const maxPooledBuffer = 64 << 10

// writeBufferSize is the WebSocket library's write buffer on a hijacked connection:
// corkConn collects the writes, so it needs much less than net/http's 4 KiB; with
// thousands of connections the difference is a visible share of memory. The read buffer
// stays net/http's: a smaller one leaves more of an oversized client frame unread when the
// connection is closed with 1009, and the client gets a reset instead of the close frame.
const writeBufferSize = 256

// corkingWriter hands the WebSocket library a corkConn when it hijacks the connection.
type corkingWriter struct {
	http.ResponseWriter
	pool *sync.Pool
	conn *corkConn // set by Hijack
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
	w.conn = &corkConn{Conn: nc, pool: w.pool}
	return w.conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(w.conn, writeBufferSize)), nil
}
