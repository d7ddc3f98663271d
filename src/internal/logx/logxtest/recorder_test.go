package logxtest

import (
	"testing"
	"time"
)

func TestRecorder(t *testing.T) {
	lg, rec := NewRecorder(true)
	lg.Printf("a %d", 1)
	lg.Debugf("b")
	lg.Printf("c\n")
	if got := rec.String(); got != "a 1\nb\nc\n" {
		t.Fatalf("recorded %q", got)
	}
	if !rec.Has("a 1") || rec.Count("a") != 1 || !rec.Wait("c", time.Second) || rec.Wait("nope", 10*time.Millisecond) {
		t.Fatal("Has/Count/Wait")
	}
}
