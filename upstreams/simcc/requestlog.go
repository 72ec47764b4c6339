package simcc

import "sync"

// requestLogCap bounds a simulator's request log: the demo runs for hours, tests look at a
// few hundred requests at most.
const requestLogCap = 10000

// RequestLog is a simulator's record of the requests it served, for tests that count
// upstream calls. It keeps the newest requestLogCap records. Safe for concurrent use.
type RequestLog[T any] struct {
	mu   sync.Mutex
	recs []T
}

// Add records one request, dropping the oldest half when full.
func (l *RequestLog[T]) Add(r T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recs) >= requestLogCap {
		n := copy(l.recs, l.recs[requestLogCap/2:])
		clear(l.recs[n:])
		l.recs = l.recs[:n]
	}
	l.recs = append(l.recs, r)
}

// All returns a copy of the records, oldest first.
func (l *RequestLog[T]) All() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]T(nil), l.recs...)
}

// Reset forgets every record.
func (l *RequestLog[T]) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = nil
}
