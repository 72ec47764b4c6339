package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// wsConn is the smallest WebSocket client (RFC 6455) a subscriber needs: the upgrade,
// masked text frames out, and frames in, read in place from a buffer with no allocation
// or timer per message. The gateway's own tests use a full library; this tool reads
// hundreds of thousands of messages a second on the gateway's machine, where a library's
// per-message cost would be what the run measures.
type wsConn struct {
	nc  net.Conn
	br  *bufio.Reader
	msg []byte // the message being assembled from fragments
	// readAt is when the last read from the socket returned: the arrival time of every
	// message it brought, read once per system call rather than once per message.
	readAt time.Time

	wmu sync.Mutex // writes: the subscriber's and pongs
}

// wsGUID is the key suffix of the upgrade handshake (RFC 6455 section 1.3).
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// maxMessage bounds one message from the gateway.
const maxMessage = 4 << 20

// dialWS connects to a ws:// URL offering subprotocol.
func dialWS(ctx context.Context, rawURL, subprotocol string) (*wsConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "ws" {
		return nil, fmt.Errorf("dialing %q: want a ws:// URL", rawURL)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("dialing: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	c := &wsConn{nc: nc}
	c.br = bufio.NewReaderSize(stampReader{c}, 16<<10)
	if err := c.handshake(u, subprotocol); err != nil {
		_ = nc.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, err
	}
	return c, nil
}

func (c *wsConn) handshake(u *url.URL, subprotocol string) error {
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return err
	}
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{
		"Upgrade":                {"websocket"},
		"Connection":             {"Upgrade"},
		"Sec-Websocket-Key":      {key},
		"Sec-Websocket-Version":  {"13"},
		"Sec-Websocket-Protocol": {subprotocol},
	}}
	u2 := *u
	u2.Scheme = "http"
	req.URL = &u2
	if err := req.Write(c.nc); err != nil {
		return fmt.Errorf("sending the upgrade request: %w", err)
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		return fmt.Errorf("reading the upgrade response: %w", err)
	}
	_ = resp.Body.Close()
	sum := sha1.Sum([]byte(key + wsGUID))
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		return fmt.Errorf("upgrade answered %s", resp.Status)
	case resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
		return errors.New("upgrade answered with a wrong Sec-WebSocket-Accept")
	case resp.Header.Get("Sec-WebSocket-Protocol") != subprotocol:
		return fmt.Errorf("gateway chose subprotocol %q", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	return nil
}

// stampReader reads the socket and notes when (wsConn.readAt).
type stampReader struct{ c *wsConn }

func (r stampReader) Read(p []byte) (int, error) {
	n, err := r.c.nc.Read(p)
	r.c.readAt = time.Now()
	return n, err
}

// writeText sends one masked text frame.
func (c *wsConn) writeText(p []byte) error { return c.writeFrame(0x1, p) }

func (c *wsConn) writeFrame(opcode byte, p []byte) error {
	var mask [4]byte
	if _, err := rand.Read(mask[:]); err != nil {
		return err
	}
	b := make([]byte, 0, len(p)+14)
	b = append(b, 0x80|opcode)
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, mask[:]...)
	for i, x := range p {
		b = append(b, x^mask[i%4])
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(b)
	return err
}

// errClosed is a close frame from the gateway.
var errClosed = errors.New("websocket closed by the gateway")

// read returns the next data message; its bytes are valid until the next read. Pings are
// answered, pongs skipped, a close frame ends the connection.
func (c *wsConn) read() ([]byte, error) {
	c.msg = c.msg[:0]
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return nil, err
		}
		fin, opcode, n := h[0]&0x80 != 0, h[0]&0x0f, uint64(h[1]&0x7f)
		if h[1]&0x80 != 0 {
			return nil, errors.New("masked frame from the gateway")
		}
		switch n {
		case 126:
			var e [2]byte
			if _, err := io.ReadFull(c.br, e[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(e[:]))
		case 127:
			var e [8]byte
			if _, err := io.ReadFull(c.br, e[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(e[:])
		}
		if n > maxMessage || uint64(len(c.msg))+n > maxMessage {
			return nil, fmt.Errorf("message over %d bytes", maxMessage)
		}
		start := len(c.msg)
		c.msg = slices.Grow(c.msg, int(n))[:start+int(n)]
		if _, err := io.ReadFull(c.br, c.msg[start:]); err != nil {
			return nil, err
		}
		switch opcode {
		case 0x8:
			return nil, errClosed
		case 0x9:
			payload := append([]byte(nil), c.msg[start:]...)
			c.msg = c.msg[:start]
			if err := c.writeFrame(0xA, payload); err != nil {
				return nil, err
			}
			continue
		case 0xA:
			c.msg = c.msg[:start]
			continue
		}
		if fin {
			return c.msg, nil
		}
	}
}

// Close closes the connection without a close handshake.
func (c *wsConn) Close() error { return c.nc.Close() }
