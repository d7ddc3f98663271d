package mail

import (
	"context"
	"sync"
	"time"
)

// Recorder is a Mailer for tests: it validates each message as Sendmail
// does, records the valid ones and returns Err. The zero value is ready to
// use and safe for concurrent use; set Err before the first Send.
type Recorder struct {
	// Err is returned by every Send of a valid message, after recording it.
	Err error

	mu   sync.Mutex
	msgs []Message
}

var _ Mailer = (*Recorder)(nil)

// Send records m. It fails without recording when ctx is already done or
// m is invalid (see Message.Validate).
func (r *Recorder) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return err
	}
	m.To = append([]Address(nil), m.To...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return r.Err
}

// Messages returns a copy of the messages recorded so far, oldest first.
func (r *Recorder) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

// WaitMessages waits until at least n messages are recorded or timeout
// passes, and returns the messages recorded by then. It is meant for
// callers that send in a goroutine of their own.
func (r *Recorder) WaitMessages(n int, timeout time.Duration) []Message {
	deadline := time.Now().Add(timeout)
	for {
		m := r.Messages()
		if len(m) >= n || !time.Now().Before(deadline) {
			return m
		}
		time.Sleep(2 * time.Millisecond)
	}
}
