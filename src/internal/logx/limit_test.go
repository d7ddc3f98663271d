package logx_test

import (
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/logx/logxtest"
)

func TestLimiter(t *testing.T) {
	lg, rec := logxtest.NewRecorder(false)
	now := time.Unix(1000, 0)
	m := logx.NewLimiter(lg, 3, 20, func() time.Time { return now })
	var pending []func()
	m.SetAfter(func(_ time.Duration, f func()) { pending = append(pending, f) })
	fire := func() {
		fs := pending
		pending = nil
		for _, f := range fs {
			f()
		}
	}
	// A burst of 100 lines in one instant: 20 pass, one report of 80.
	for i := 0; i < 100; i++ {
		m.Printf("door", "line %d", i)
	}
	if n := rec.Count("line"); n != 20 {
		t.Fatalf("%d lines passed, want the burst of 20", n)
	}
	m.Printf("other", "other door") // keys are independent
	if !rec.Has("other door") {
		t.Fatal("another key was limited")
	}
	if len(pending) != 1 {
		t.Fatalf("%d reports scheduled, want 1", len(pending))
	}
	fire()
	if !rec.Has("door: 80 log lines suppressed") {
		t.Fatalf("no report: %q", rec.Lines())
	}
	// A sustained storm: 1000 lines a second for 10 s gives 3 a second
	// and one report a second.
	before := len(rec.Lines())
	for s := 0; s < 10; s++ {
		for i := 0; i < 1000; i++ {
			now = now.Add(time.Millisecond)
			m.Printf("door", "storm")
		}
		fire()
	}
	got := len(rec.Lines()) - before
	if got > 10*(3+1)+1 {
		t.Fatalf("%d lines in 10 s of storm, want at most %d", got, 10*4+1)
	}
	// Quiet again: the report chain stops, no timer stays armed.
	fire()
	fire()
	if len(pending) != 0 {
		t.Fatalf("%d timers still armed after the storm", len(pending))
	}
	now = now.Add(time.Minute)
	m.Printf("door", "after")
	if !rec.Has("after") {
		t.Fatal("budget not refilled")
	}
}

// TestBudget: a key's budget held by its caller has the limiter's burst
// and rate, is apart from the keys of Printf, and reports what it held
// back under its key.
func TestBudget(t *testing.T) {
	lg, rec := logxtest.NewRecorder(false)
	now := time.Unix(1000, 0)
	m := logx.NewLimiter(lg, 2, 5, func() time.Time { return now })
	var pending []func()
	m.SetAfter(func(_ time.Duration, f func()) { pending = append(pending, f) })
	g := m.Budget("first knocks")
	passed := 0
	for i := 0; i < 50; i++ {
		if g.AllowAt(now) {
			passed++
		}
	}
	if passed != 5 {
		t.Fatalf("%d of 50 lines passed at once, want the burst of 5", passed)
	}
	m.Printf("first knocks", "same name, other budget")
	if !rec.Has("same name, other budget") {
		t.Fatal("the budget took from Printf's key of the same name")
	}
	if len(pending) != 1 {
		t.Fatalf("%d reports scheduled, want 1", len(pending))
	}
	pending[0]()
	if !rec.Has("first knocks: 45 log lines suppressed") {
		t.Fatalf("no report of the 45: %q", rec.Lines())
	}
	// Two lines a second come back.
	now = now.Add(time.Second)
	passed = 0
	for i := 0; i < 10; i++ {
		if g.AllowAt(now) {
			passed++
		}
	}
	if passed != 2 {
		t.Fatalf("%d lines passed a second later, want 2", passed)
	}
}
