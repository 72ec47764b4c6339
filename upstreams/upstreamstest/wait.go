package upstreamstest

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/upstreams"
)

// Deadline bounds every wait of the kit; it is a timeout, never an expected duration.
const Deadline = 10 * time.Second

// Until polls check until it returns "" and fails t with its last answer after Deadline.
func Until(t testing.TB, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(Deadline)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Eventually polls cond until it holds and fails t after Deadline.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Until(t, what, func() string {
		if cond() {
			return ""
		}
		return "condition not met"
	})
}

// Stream is one Stream call running in the background, as the hub runs it.
type Stream struct {
	t      testing.TB
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// StartStream runs s.Stream(topic, sink) in a goroutine; the test's cleanup stops it.
func StartStream(t testing.TB, s upstreams.Streamer, topic upstreams.Topic, sink upstreams.Sink) *Stream {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Stream{t: t, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = s.Stream(ctx, topic, sink)
	}()
	t.Cleanup(func() { _ = r.Stop() })
	return r
}

// Done is closed when Stream has returned.
func (r *Stream) Done() <-chan struct{} { return r.done }

// Stop cancels the stream and returns what Stream returned. It may be called again.
func (r *Stream) Stop() error {
	r.cancel()
	return r.Wait()
}

// Wait waits for Stream to return by itself and returns its error; it fails the test if
// that takes longer than Deadline.
func (r *Stream) Wait() error {
	select {
	case <-r.done:
		return r.err
	case <-time.After(Deadline):
		r.t.Errorf("Stream did not return within %s", Deadline)
		r.cancel()
		<-r.done
		return r.err
	}
}
