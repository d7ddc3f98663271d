// Package mailtest provides a recording mail.Mailer for tests.
package mailtest

import (
	"context"

	"github.com/knockd-go/knockd-go/src/internal/mail"
	"github.com/knockd-go/knockd-go/src/internal/recorder"
)

// Recorder is a mail.Mailer for tests: it validates each message as
// mail.Sendmail does, records the valid ones and returns Err. Calls and Wait
// return the recorded messages. The zero value is ready to use and safe for
// concurrent use; set Err before the first Send.
type Recorder struct {
	// Err is returned by every Send of a valid message, after recording it.
	Err error

	recorder.Recorder[mail.Message]
}

var _ mail.Mailer = (*Recorder)(nil)

// Send records m. It fails without recording when ctx is already done or
// m is invalid (see mail.Message.Validate).
func (r *Recorder) Send(ctx context.Context, m mail.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return err
	}
	m.To = append([]mail.Address(nil), m.To...)
	r.Add(m)
	return r.Err
}
