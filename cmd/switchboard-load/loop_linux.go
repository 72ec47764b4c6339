package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// loop is a receive loop: one goroutine on its own thread reads every socket it was
// given through epoll (edge-triggered: a socket is not polled again until more arrives),
// one system call per socket that has data, and counts into its own
// tally. With one goroutine per subscriber, waking and parking ten thousand goroutines
// for each event costs the load tool more than the gateway's fan-out.
type loop struct {
	epfd int
	t    *tally

	mu      sync.Mutex // streams: added by the connecting subscribers
	streams map[int32]*loopStream
}

type loopStream struct {
	stream
	fd   int
	file *os.File // owns fd
}

func newLoop(t *tally) (*loop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	return &loop{epfd: epfd, t: t, streams: map[int32]*loopStream{}}, nil
}

// add takes c's socket over; c must not be used after.
func (l *loop) add(c *wsConn) error {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return errors.New("receive loop: not a TCP connection")
	}
	f, err := tc.File() // a duplicate in blocking mode, outside Go's poller
	_ = tc.Close()
	if err != nil {
		return fmt.Errorf("receive loop: %w", err)
	}
	fd := int(f.Fd())
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = f.Close()
		return fmt.Errorf("receive loop: %w", err)
	}
	s := &loopStream{stream: stream{asm: c.asm}, fd: fd, file: f}
	s.write = func(b []byte) error {
		_, err := syscall.Write(fd, b) // a pong: small, the socket takes it whole
		return err
	}
	// What arrived behind the messages the subscriber read is counted first; what comes
	// meanwhile is reported by epoll once the socket is added (it is readable then).
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.t.feed(&s.stream, c.in, time.Now()); err != nil {
		_ = f.Close()
		return err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		_ = f.Close()
		return fmt.Errorf("receive loop: epoll_ctl: %w", err)
	}
	l.streams[int32(fd)] = s
	return nil
}

// run reads until ctx ends, then closes every socket it holds.
func (l *loop) run(ctx context.Context) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer l.closeAll()
	events := make([]syscall.EpollEvent, 512)
	buf := make([]byte, 256<<10)
	for ctx.Err() == nil {
		n, err := syscall.EpollWait(l.epfd, events, 100)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			l.t.log.Error("epoll_wait", "err", err)
			return
		}
		l.mu.Lock()
		for i := range n {
			s := l.streams[events[i].Fd]
			if s == nil {
				continue
			}
			if err := l.read(s, buf); err != nil {
				l.drop(ctx, s, err)
			}
		}
		l.mu.Unlock()
	}
}

// read reads what s's socket holds: edge-triggered, the socket is reported again only
// when more arrives, so it is read until a read comes back short.
func (l *loop) read(s *loopStream, buf []byte) error {
	for {
		m, err := syscall.Read(s.fd, buf)
		now := time.Now()
		switch {
		case errors.Is(err, syscall.EAGAIN):
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return err
		case m == 0:
			return errors.New("connection closed by the gateway")
		}
		if err := l.t.feed(&s.stream, buf[:m], now); err != nil {
			return err
		}
		if m < len(buf) {
			return nil
		}
	}
}

// drop ends a subscriber whose connection failed or whose subscription the gateway ended.
func (l *loop) drop(ctx context.Context, s *loopStream, err error) {
	if ctx.Err() == nil {
		l.t.ended++
		if !errors.Is(err, errEnded) {
			l.t.log.Warn("subscriber ended", "err", err)
		}
	}
	_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, s.fd, nil)
	delete(l.streams, int32(s.fd))
	_ = s.file.Close()
}

func (l *loop) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for fd, s := range l.streams {
		_ = s.file.Close()
		delete(l.streams, fd)
	}
	_ = syscall.Close(l.epfd)
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// epollET is EPOLLET as the uint32 an EpollEvent holds (the constant is negative in package syscall).
const epollET = 1 << 31

// smallReceiveBuffer is a dialer's Control that asks for the smallest receive buffer.
func smallReceiveBuffer(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	}); err != nil {
		return err
	}
	return serr
}
