//go:build !linux

package main

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"time"
)

// loop is the portable receive loop: a goroutine per subscriber reads its socket and
// counts into the loop's tally under a lock. Linux gets the epoll loop (loop_linux.go),
// which is what the figures in the README were measured with.
type loop struct {
	t  *tally
	mu sync.Mutex // t
	wg sync.WaitGroup
	// ctx is the loop's run context, set by run before any subscriber is added.
	ready chan struct{}
	ctx   context.Context
}

func newLoop(t *tally) (*loop, error) { return &loop{t: t, ready: make(chan struct{})}, nil }

func (l *loop) add(c *wsConn) error {
	<-l.ready
	s := &stream{asm: c.asm, write: c.writeRaw}
	l.mu.Lock()
	err := l.t.feed(s, c.in, time.Now())
	l.mu.Unlock()
	if err != nil {
		_ = c.Close()
		return err
	}
	stop := context.AfterFunc(l.ctx, func() { _ = c.Close() })
	l.wg.Go(func() {
		defer stop()
		defer c.Close()
		buf := make([]byte, 16<<10)
		for {
			m, err := c.nc.Read(buf)
			now := time.Now()
			l.mu.Lock()
			if m > 0 {
				if ferr := l.t.feed(s, buf[:m], now); ferr != nil {
					err = ferr
				}
			}
			if err != nil && l.ctx.Err() == nil {
				l.t.ended++
				if !errors.Is(err, errEnded) {
					l.t.log.Warn("subscriber ended", "err", err)
				}
			}
			l.mu.Unlock()
			if err != nil {
				return
			}
		}
	})
	return nil
}

func (l *loop) run(ctx context.Context) {
	l.ctx = ctx
	close(l.ready)
	<-ctx.Done()
	l.wg.Wait()
}

// floor is --floor, which needs Linux (non-blocking writes on raw sockets).
type floor struct{}

func newFloor(float64, int) (*floor, error) { return nil, errors.New("--floor needs Linux") }
func (*floor) run(context.Context)          {}
func (*floor) dial(context.Context, bool) (*wsConn, error) {
	return nil, errors.New("--floor needs Linux")
}

// cpuTime is not measured here.
func cpuTime() time.Duration { return 0 }

// smallReceiveBuffer is left to the system here.
func smallReceiveBuffer(string, string, syscall.RawConn) error { return nil }
