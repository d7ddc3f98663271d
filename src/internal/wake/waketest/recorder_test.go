package waketest

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

func TestRecorder(t *testing.T) {
	t.Parallel()
	var r Recorder
	mac := net.HardwareAddr{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	pw := []byte{1, 2, 3, 4}
	if err := r.Wake("br-lan", mac, pw); err != nil {
		t.Fatalf("Wake: %v", err)
	}
	pw[0] = 99 // the recorder keeps its own copy
	if err := r.Wake("br-lan", mac, []byte{1}); err == nil {
		t.Error("Wake with a 1-byte password succeeded")
	}
	if err := r.Wake("", mac, nil); err == nil {
		t.Error("Wake without a device succeeded")
	}
	boom := errors.New("boom")
	r.Err = boom
	if err := r.Wake("br0", mac, nil); !errors.Is(err, boom) {
		t.Errorf("Wake with Err set = %v, want %v", err, boom)
	}
	got := r.Calls()
	if len(got) != 2 {
		t.Fatalf("recorded %d calls, want 2: %+v", len(got), got)
	}
	if got[0].Ifname != "br-lan" || !bytes.Equal(got[0].MAC, mac) || !bytes.Equal(got[0].Password, []byte{1, 2, 3, 4}) {
		t.Errorf("call 0 = %+v", got[0])
	}
	if got[1].Ifname != "br0" || got[1].Password != nil {
		t.Errorf("call 1 = %+v", got[1])
	}
}

func TestRecorderConcurrent(t *testing.T) {
	t.Parallel()
	var r Recorder
	mac := net.HardwareAddr{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = r.Wake("br-lan", mac, nil)
		}()
	}
	if got := r.Wait(20, 5*time.Second); len(got) != 20 {
		t.Errorf("Wait saw %d calls, want 20", len(got))
	}
	wg.Wait()
	if got := r.Wait(21, 10*time.Millisecond); len(got) != 20 {
		t.Errorf("Wait(21) = %d calls after timeout, want 20", len(got))
	}
}
