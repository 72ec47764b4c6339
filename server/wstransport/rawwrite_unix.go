//go:build unix

package wstransport

import (
	"errors"
	"net"
	"syscall"
)

// nonBlockingWriter returns a function that writes what the socket of nc takes at once
// and never waits, or nil when nc has no file descriptor.
func nonBlockingWriter(nc net.Conn) func(p []byte) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func(p []byte) (int, error) {
		n := 0
		var werr error
		err := rc.Write(func(fd uintptr) bool {
			for n < len(p) {
				m, e := syscall.Write(int(fd), p[n:])
				if m > 0 {
					n += m
				}
				switch {
				case e == nil:
				case errors.Is(e, syscall.EINTR):
				case errors.Is(e, syscall.EAGAIN):
					return true // full: the caller keeps the rest
				default:
					werr = e
					return true
				}
			}
			return true
		})
		if err == nil {
			err = werr
		}
		return n, err
	}
}
