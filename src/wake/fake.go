package wake

import (
	"bytes"
	"net"
	"sync"
	"time"
)

// A Call is one Wake call seen by a Recorder.
type Call struct {
	Ifname   string
	MAC      net.HardwareAddr
	Password []byte
}

// Recorder is a Waker for tests: it checks its arguments as Raw does,
// records each valid call and returns Err. The zero value is ready to use
// and safe for concurrent use; set Err before the first call.
type Recorder struct {
	// Err is returned by every valid call, after recording it.
	Err error

	mu    sync.Mutex
	calls []Call
}

var _ Waker = (*Recorder)(nil)

// Wake records the call. Invalid arguments (no device, a MAC that is not a
// 6-byte unicast address, a password of another length than 0, 4 or 6)
// return the error Raw would return and are not recorded.
func (r *Recorder) Wake(ifname string, mac net.HardwareAddr, password []byte) error {
	if err := check(ifname, mac, password); err != nil {
		return err
	}
	c := Call{Ifname: ifname, MAC: bytes.Clone(mac), Password: bytes.Clone(password)}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
	return r.Err
}

// Calls returns a copy of the calls recorded so far, oldest first.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// WaitCalls waits until at least n calls are recorded or timeout passes,
// and returns the calls recorded by then. It is meant for callers that wake
// in a goroutine of their own.
func (r *Recorder) WaitCalls(n int, timeout time.Duration) []Call {
	deadline := time.Now().Add(timeout)
	for {
		c := r.Calls()
		if len(c) >= n || !time.Now().Before(deadline) {
			return c
		}
		time.Sleep(2 * time.Millisecond)
	}
}
