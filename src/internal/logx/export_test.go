package logx

import "time"

// SetAfter replaces the timer of l's reports (time.AfterFunc), for the
// tests of the external package, which record with logxtest.
func (l *Limiter) SetAfter(after func(time.Duration, func())) { l.after = after }
