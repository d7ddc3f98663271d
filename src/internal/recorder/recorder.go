// Package recorder keeps the values a test double was called with, for the
// fakes of the companion test packages (mailtest, waketest).
package recorder

import (
	"sync"
	"time"
)

// Recorder keeps values in the order they were added. The zero value is
// ready to use and safe for concurrent use.
type Recorder[T any] struct {
	mu    sync.Mutex
	calls []T
}

// Add records v.
func (r *Recorder[T]) Add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, v)
}

// Calls returns a copy of the values recorded so far, oldest first.
func (r *Recorder[T]) Calls() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.calls...)
}

// Wait waits until at least n values are recorded or timeout passes, and
// returns the values recorded by then. It is meant for callers that record
// in a goroutine of their own.
func (r *Recorder[T]) Wait(n int, timeout time.Duration) []T {
	deadline := time.Now().Add(timeout)
	for {
		c := r.Calls()
		if len(c) >= n || !time.Now().Before(deadline) {
			return c
		}
		time.Sleep(2 * time.Millisecond)
	}
}
