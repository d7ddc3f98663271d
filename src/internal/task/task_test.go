package task

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestFirstFailureStopsTheOthers: the first task to fail cancels the
// group; Wait returns it, named, once every task returned.
func TestFirstFailureStopsTheOthers(t *testing.T) {
	g := New(context.Background())
	boom := errors.New("boom")
	stopped := make(chan struct{})
	g.Go(Task{Name: "waits", Run: func(ctx context.Context) error { <-ctx.Done(); close(stopped); return nil }})
	g.Go(Task{Name: "fails", Run: func(context.Context) error { return boom }})
	err := g.Wait()
	var te *Error
	if !errors.As(err, &te) || te.Task != "fails" || !errors.Is(err, boom) || err.Error() != "fails: boom" {
		t.Fatalf("Wait: %v", err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("Wait returned before every task did")
	}
}

// TestStopIsNoError: ErrStop and Stop end the group with no error.
func TestStopIsNoError(t *testing.T) {
	g := New(context.Background())
	g.Go(Task{Name: "signals", Run: func(context.Context) error { return ErrStop }})
	g.Go(Task{Name: "waits", Run: func(ctx context.Context) error { <-ctx.Done(); return nil }})
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	g = New(context.Background())
	g.Go(Task{Name: "waits", Run: func(ctx context.Context) error { <-ctx.Done(); return nil }})
	time.AfterFunc(10*time.Millisecond, g.Stop)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestParentEnds: the parent's end stops the tasks.
func TestParentEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := New(ctx)
	g.Go(Task{Name: "waits", Run: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }})
	cancel()
	if err := g.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait: %v", err)
	}
}
