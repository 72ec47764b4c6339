package upstreamstest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server serves a vendor simulator on loopback and injects the faults the suite needs while
// a driver talks to it: a status for every request, rewritten answers, dropped connections.
type Server struct {
	*httptest.Server
	mu      sync.Mutex
	status  int
	rewrite func(r *http.Request, rec *httptest.ResponseRecorder)
	faulted int
	streams int
	conns   map[net.Conn]struct{}
}

// NewServer starts h on a loopback port; the test's cleanup drops every connection and
// closes the server.
func NewServer(t testing.TB, h http.Handler) *Server {
	s := &Server{conns: map[net.Conn]struct{}{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(h, w, r) }))
	s.Listener = &trackingListener{Listener: s.Listener, s: s}
	s.Start()
	t.Cleanup(func() {
		// Hijacked and streaming connections would keep Close waiting.
		s.DropConnections()
		s.Close()
	})
	return s
}

// FailWith answers every request with status and a JSON error body until Heal.
func (s *Server) FailWith(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.rewrite, s.faulted = status, nil, 0
}

// Rewrite passes every request that is not a stream (WebSocket, server-sent events) to the
// simulator and lets edit change the recorded answer before it is sent, until Heal.
func (s *Server) Rewrite(edit func(r *http.Request, rec *httptest.ResponseRecorder)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.rewrite, s.faulted = 0, edit, 0
}

// Heal ends FailWith and Rewrite.
func (s *Server) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.rewrite = 0, nil
}

// Faulted counts the requests a fault answered since it was set.
func (s *Server) Faulted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faulted
}

// OpenStreams counts the WebSocket and server-sent-event requests being served.
func (s *Server) OpenStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams
}

// DropConnections closes every client connection at the socket, hijacked ones included,
// as a network failure would. New connections are accepted.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func isStream(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

func (s *Server) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	stream := isStream(r)
	s.mu.Lock()
	status, edit := s.status, s.rewrite
	if edit != nil && stream {
		edit = nil
	}
	if status != 0 || edit != nil {
		s.faulted++
	}
	if stream && status == 0 {
		s.streams++
		defer func() {
			s.mu.Lock()
			s.streams--
			s.mu.Unlock()
		}()
	}
	s.mu.Unlock()
	switch {
	case status != 0:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q,"message":"fault injected by upstreamstest","status":%d}`, http.StatusText(status), status)
	case edit != nil:
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		edit(r, rec)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(rec.Body.Len()))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	default:
		next.ServeHTTP(w, r)
	}
}

// trackingListener remembers the connections it accepts so that DropConnections reaches
// those the HTTP server no longer tracks (hijacked WebSockets).
type trackingListener struct {
	net.Listener
	s *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s}
	l.s.mu.Lock()
	l.s.conns[tc] = struct{}{}
	l.s.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	s *Server
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}
