package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// floor is --floor: the fastest fan-out this machine allows, to hold the gateway's
// figures against. It stands in for the gateway in this process: a generator appends
// `rate` events a second, framed as the gateway frames them, to one log; writer
// goroutines (one per core) go round their share of the sockets writing each everything
// it has not had yet with one non-blocking system call, which is the gateway's batching
// with nothing else around it: no GraphQL, no queues, no locks per subscriber. The
// subscribers' side is the same receive loops as against a gateway.
type floor struct {
	ln      net.Listener
	rate    float64
	writers []chan struct{} // per writer: woken when an event is appended

	mu    sync.Mutex
	log   []byte // every event's frame, back to back; only ever appended to
	socks []*floorSock
	wg    sync.WaitGroup
}

type floorSock struct {
	file *os.File // owns fd
	fd   int
	off  int // how much of the log this socket has had; its writer's alone
}

func newFloor(rate float64, writers int) (*floor, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("--floor: %w", err)
	}
	f := &floor{ln: ln, rate: rate, writers: make([]chan struct{}, writers)}
	for i := range f.writers {
		f.writers[i] = make(chan struct{}, 1)
	}
	return f, nil
}

// run generates events and writes them until ctx ends, then closes the sockets.
func (f *floor) run(ctx context.Context) {
	f.wg.Go(func() { f.accept(ctx) })
	for w := range f.writers {
		f.wg.Go(func() { f.write(ctx, w) })
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / f.rate))
	defer tick.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			_ = f.ln.Close()
			f.wg.Wait()
			for _, s := range f.socks {
				_ = s.file.Close()
			}
			return
		case <-tick.C:
		}
		msg := `{"id":"1","type":"next","payload":{"data":{"callEvents":{"seq":"` + strconv.Itoa(seq) +
			`","kind":"UPSERT","at":"` + time.Now().Format(time.RFC3339Nano) + `"}}}}`
		f.mu.Lock()
		f.log = append(appendHeader(f.log, 0x80|opText, len(msg), false), msg...)
		f.mu.Unlock()
		for _, w := range f.writers {
			select {
			case w <- struct{}{}:
			default:
			}
		}
	}
}

// dial opens one subscriber's connection.
func (f *floor) dial(ctx context.Context, stall bool) (*wsConn, error) {
	d := net.Dialer{}
	if stall {
		d.Control = smallReceiveBuffer
	}
	nc, err := d.DialContext(ctx, "tcp", f.ln.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("--floor: %w", err)
	}
	return &wsConn{nc: nc}, nil
}

func (f *floor) accept(ctx context.Context) {
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		file, err := nc.(*net.TCPConn).File()
		_ = nc.Close()
		if err != nil {
			continue
		}
		fd := int(file.Fd())
		if err := syscall.SetNonblock(fd, true); err != nil || ctx.Err() != nil {
			_ = file.Close()
			continue
		}
		f.mu.Lock()
		f.socks = append(f.socks, &floorSock{file: file, fd: fd, off: len(f.log)})
		f.mu.Unlock()
	}
}

// write is writer w: it goes round sockets w, w+len(writers), … until a round finds
// nothing to write, then waits for the next event.
func (f *floor) write(ctx context.Context, w int) {
	for ctx.Err() == nil {
		f.mu.Lock()
		log, socks := f.log, f.socks // the bytes under len(log) never change
		f.mu.Unlock()
		wrote := false
		for i := w; i < len(socks); i += len(f.writers) {
			s := socks[i]
			if s.off == len(log) {
				continue
			}
			n, err := syscall.Write(s.fd, log[s.off:])
			if n > 0 {
				s.off += n
				wrote = true
			}
			if err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR) {
				s.off = len(log) // the subscriber is gone: its loop reports it
			}
		}
		if !wrote {
			select {
			case <-ctx.Done():
			case <-f.writers[w]:
			}
		}
	}
}
