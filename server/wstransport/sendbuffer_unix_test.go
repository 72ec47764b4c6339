//go:build unix

package wstransport

import (
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
)

// A hijacked WebSocket connection gets the configured kernel send buffer, so a client that
// stops reading is noticed after that much rather than after the system's autotuned
// maximum (megabytes per connection).
func TestHijackSetsTheSendBuffer(t *testing.T) {
	const want = 32 << 10 // the system sizes a loopback connection's buffer in megabytes
	got := make(chan int, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &corkingWriter{ResponseWriter: w, sendBuffer: want}
		nc, _, err := cw.Hijack()
		if err != nil {
			t.Error(err)
			got <- 0
			return
		}
		defer nc.Close()
		rc, err := cw.conn.Conn.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Error(err)
			got <- 0
			return
		}
		n := 0
		_ = rc.Control(func(fd uintptr) { n, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF) })
		if err != nil {
			t.Error(err)
		}
		got <- n
	}))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if n := <-got; n < want || n > 2*want { // Linux reports twice what was set
		t.Fatalf("SO_SNDBUF %d, want %d (or twice that)", n, want)
	}
}
