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
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
)

// wsConn is the smallest WebSocket client (RFC 6455) a subscriber needs: the upgrade,
// masked frames out, and frames in, parsed in place with no allocation per message. The
// gateway's own tests use a full library; this tool reads a million messages a second on
// the gateway's machine, where a library's per-message cost would be what the run
// measures. After its subscribe a connection's socket is handed to a receive loop
// (recv.go), which reads with the same frame parser.
type wsConn struct {
	nc  net.Conn
	in  []byte // read from the socket, not yet parsed
	asm assembler

	wmu sync.Mutex // writes: the subscriber's and pongs
}

// wsGUID is the key suffix of the upgrade handshake (RFC 6455 section 1.3).
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// maxMessage bounds one message from the gateway.
const maxMessage = 4 << 20

// dialWS connects to a ws:// URL offering subprotocol; control, if set, is the dialer's
// (socket options).
func dialWS(ctx context.Context, rawURL, subprotocol string, control func(network, address string, c syscall.RawConn) error) (*wsConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "ws" {
		return nil, fmt.Errorf("dialing %q: want a ws:// URL", rawURL)
	}
	d := net.Dialer{Control: control}
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("dialing: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	c := &wsConn{nc: nc}
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
	br := bufio.NewReaderSize(c.nc, 4<<10)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fmt.Errorf("reading the upgrade response: %w", err)
	}
	_ = resp.Body.Close()
	// Frames the gateway sent right behind its response are already in br.
	early, _ := br.Peek(br.Buffered())
	c.in = append(c.in, early...)
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

// writeText sends one masked text frame.
func (c *wsConn) writeText(p []byte) error { return c.writeFrame(opText, p) }

func (c *wsConn) writeFrame(opcode byte, p []byte) error {
	b, err := appendFrame(nil, opcode, p)
	if err != nil {
		return err
	}
	return c.writeRaw(b)
}

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// appendFrame appends p as one masked client frame.
func appendFrame(b []byte, opcode byte, p []byte) ([]byte, error) {
	var mask [4]byte
	if _, err := rand.Read(mask[:]); err != nil {
		return nil, err
	}
	b = appendHeader(b, 0x80|opcode, len(p), true)
	b = append(b, mask[:]...)
	for i, x := range p {
		b = append(b, x^mask[i%4])
	}
	return b, nil
}

// appendHeader appends a frame header for n payload bytes (the mask key, when masked,
// follows).
func appendHeader(b []byte, first byte, n int, masked bool) []byte {
	var m byte
	if masked {
		m = 0x80
	}
	b = append(b, first)
	switch {
	case n < 126:
		return append(b, m|byte(n))
	case n < 1<<16:
		return append(b, m|126, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, m|127), uint64(n))
	}
}

// errClosed is a close frame from the gateway.
var errClosed = errors.New("websocket closed by the gateway")

// frame is one WebSocket frame in a read buffer.
type frame struct {
	fin     bool
	opcode  byte
	payload []byte // aliases the buffer
}

// parseFrame parses the server frame at the start of b; n is its length in b, 0 when b
// holds only part of it.
func parseFrame(b []byte) (f frame, n int, err error) {
	if len(b) < 2 {
		return f, 0, nil
	}
	f.fin, f.opcode = b[0]&0x80 != 0, b[0]&0x0f
	if b[1]&0x80 != 0 {
		return f, 0, errors.New("masked frame from the gateway")
	}
	size, hdr := uint64(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return f, 0, nil
		}
		size, hdr = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return f, 0, nil
		}
		size, hdr = binary.BigEndian.Uint64(b[2:]), 10
	}
	if size > maxMessage {
		return f, 0, fmt.Errorf("frame over %d bytes", maxMessage)
	}
	if uint64(len(b)-hdr) < size {
		return f, 0, nil
	}
	n = hdr + int(size)
	f.payload = b[hdr:n:n]
	return f, n, nil
}

// assembler joins a data message's fragments.
type assembler struct {
	msg        []byte
	fragmented bool
}

// add takes the next data frame; done with the whole message (valid until the next add).
func (a *assembler) add(f frame) (msg []byte, done bool, err error) {
	if !a.fragmented && f.fin {
		return f.payload, true, nil // the common case: no copy
	}
	if len(a.msg)+len(f.payload) > maxMessage {
		return nil, false, fmt.Errorf("message over %d bytes", maxMessage)
	}
	if !a.fragmented {
		a.msg = a.msg[:0]
	}
	a.msg, a.fragmented = append(a.msg, f.payload...), !f.fin
	return a.msg, f.fin, nil
}

// control answers a control frame: a ping with its pong (write sends a whole frame),
// a close with errClosed; handled is false for a data frame.
func control(f frame, write func([]byte) error) (handled bool, err error) {
	switch f.opcode {
	case opClose:
		return true, errClosed
	case opPing:
		pong, err := appendFrame(nil, opPong, f.payload)
		if err == nil {
			err = write(pong)
		}
		return true, err
	case opPong:
		return true, nil
	}
	return false, nil
}

// read returns the next data message; its bytes are valid until the next read. Pings are
// answered, pongs skipped, a close frame ends the connection. Used until the receive loop
// takes the socket over.
func (c *wsConn) read() ([]byte, error) {
	for {
		f, n, err := parseFrame(c.in)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			if err := c.fill(); err != nil {
				return nil, err
			}
			continue
		}
		c.in = c.in[n:]
		if handled, err := control(f, c.writeRaw); handled || err != nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		if msg, done, err := c.asm.add(f); err != nil || done {
			return msg, err
		}
	}
}

// fill reads more from the socket into c.in, keeping what is unparsed.
func (c *wsConn) fill() error {
	if len(c.in) == cap(c.in) {
		c.in = append(make([]byte, 0, max(2*cap(c.in), 16<<10)), c.in...)
	}
	n, err := c.nc.Read(c.in[len(c.in):cap(c.in)])
	c.in = c.in[:len(c.in)+n]
	return err
}

func (c *wsConn) writeRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(b)
	return err
}

// Close closes the connection without a close handshake.
func (c *wsConn) Close() error { return c.nc.Close() }
