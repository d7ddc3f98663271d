// Package waketest provides a recording wake.Waker for tests.
package waketest

import (
	"bytes"
	"net"

	"github.com/knockd-go/knockd-go/src/internal/recorder"
	"github.com/knockd-go/knockd-go/src/internal/wake"
)

// A Call is one Wake call seen by a Recorder.
type Call struct {
	Ifname   string
	MAC      net.HardwareAddr
	Password []byte
}

// Recorder is a wake.Waker for tests: it checks its arguments as wake.Raw
// does, records each valid call and returns Err. Calls and Wait return the
// recorded calls. The zero value is ready to use and safe for concurrent
// use; set Err before the first call.
type Recorder struct {
	// Err is returned by every valid call, after recording it.
	Err error

	recorder.Recorder[Call]
}

var _ wake.Waker = (*Recorder)(nil)

// Wake records the call. Invalid arguments (no device, a MAC that is not a
// 6-byte unicast address, a password of another length than 0, 4 or 6)
// return the error wake.Raw would return and are not recorded.
func (r *Recorder) Wake(ifname string, mac net.HardwareAddr, password []byte) error {
	if err := wake.Check(ifname, mac, password); err != nil {
		return err
	}
	r.Add(Call{Ifname: ifname, MAC: bytes.Clone(mac), Password: bytes.Clone(password)})
	return r.Err
}
