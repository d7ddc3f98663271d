// Package task runs the daemon's long-lived goroutines as named tasks
// under one group, errgroup's way (without the dependency): each task
// gets the group's context and returns an error; the first task to fail
// cancels the others, and Wait returns once every task has returned.
package task

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Task is a long-lived part of the daemon.
type Task struct {
	Name string
	Run  func(ctx context.Context) error
}

// ErrStop, returned by a task, stops the group without an error (a
// signal asked for it).
var ErrStop = errors.New("stop")

// Group runs tasks until one fails or the context ends.
type Group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu  sync.Mutex
	err error // the first task's error, named
}

// New returns a group whose tasks run until ctx ends or one of them
// fails.
func New(ctx context.Context) *Group {
	g := &Group{}
	g.ctx, g.cancel = context.WithCancel(ctx)
	return g
}

// Context is the tasks' context: it ends when a task failed, the group
// was stopped or the parent ended.
func (g *Group) Context() context.Context { return g.ctx }

// Go starts t.
func (g *Group) Go(t Task) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := t.Run(g.ctx); err != nil {
			g.fail(t.Name, err)
		}
	}()
}

func (g *Group) fail(name string, err error) {
	g.mu.Lock()
	if g.err == nil && !errors.Is(err, ErrStop) {
		g.err = &Error{Task: name, Err: err}
	}
	g.mu.Unlock()
	g.cancel()
}

// Stop ends the group's context: every task returns.
func (g *Group) Stop() { g.cancel() }

// Wait waits for every task and returns the first failure (an *Error),
// or nil.
func (g *Group) Wait() error {
	g.wg.Wait()
	g.cancel()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Error is a task's failure.
type Error struct {
	Task string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.Task, e.Err) }

func (e *Error) Unwrap() error { return e.Err }
