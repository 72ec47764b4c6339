//go:build !unix

package wstransport

import "net"

// nonBlockingWriter is unavailable here: writes that must not wait use a deadline.
func nonBlockingWriter(net.Conn) func(p []byte) (int, error) { return nil }
