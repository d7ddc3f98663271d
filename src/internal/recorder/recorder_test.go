package recorder

import (
	"sync"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	t.Parallel()
	var r Recorder[int]
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Add(i)
		}()
	}
	if got := r.Wait(20, 5*time.Second); len(got) != 20 {
		t.Errorf("Wait saw %d values, want 20", len(got))
	}
	wg.Wait()
	if got := r.Wait(21, 10*time.Millisecond); len(got) != 20 {
		t.Errorf("Wait(21) = %d values after timeout, want 20", len(got))
	}
	c := r.Calls()
	c[0] = -1 // Calls returns a copy
	if r.Calls()[0] == -1 {
		t.Error("Calls shares its slice with the recorder")
	}
}
