//go:build unix

package wstransport

import (
	"errors"
	"net"
	"syscall"
)

// nonBlockingWriter returns a function that writes what the socket of nc takes at once
// and never waits, or nil when nc has no file descriptor. It is not safe for concurrent
// use (corkConn calls it under its lock) and allocates nothing per call: it runs for every
// batch of every connection.
func nonBlockingWriter(nc net.Conn) func(p []byte) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &rawWriter{rc: rc}
	w.f = w.writeFD
	return w.write
}

// rawWriter is nonBlockingWriter's state: the call's arguments and results, and the
// callback for RawConn.Write bound once.
type rawWriter struct {
	rc  syscall.RawConn
	f   func(fd uintptr) bool
	p   []byte
	n   int
	err error
}

func (w *rawWriter) write(p []byte) (int, error) {
	w.p, w.n, w.err = p, 0, nil
	err := w.rc.Write(w.f)
	n, werr := w.n, w.err
	w.p = nil
	if err == nil {
		err = werr
	}
	return n, err
}

func (w *rawWriter) writeFD(fd uintptr) bool {
	for w.n < len(w.p) {
		m, e := syscall.Write(int(fd), w.p[w.n:])
		if m > 0 {
			w.n += m
		}
		switch {
		case e == nil:
		case errors.Is(e, syscall.EINTR):
		case errors.Is(e, syscall.EAGAIN):
			return true // full: the caller keeps the rest
		default:
			w.err = e
			return true
		}
	}
	return true
}
