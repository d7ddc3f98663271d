package service

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"github.com/knockd-go/knockd-go/src/internal/feature"
	"github.com/knockd-go/knockd-go/src/internal/task"
)

// Watched is the spawner, as Run watches it: Died is closed when it ends
// unasked, Err tells why.
type Watched interface {
	Died() <-chan struct{}
	Err() error
}

// Run runs the daemon until ctx ends, a stop signal arrives or a task
// fails, each long-lived part a named task of one group:
//
//   - packet path: capture and matching (daemon.Capture)
//   - expiry: knocks in progress and cool-downs that time out
//   - start-up: waits until every device is captured on (or waited
//     for), opens the control socket (Options.Listen), starts the
//     control server task and calls Options.OnReady
//   - control server: answers knockd status, revoke and rpcd
//   - spawner watchdog: a spawner that ended unasked stops the daemon
//     (procd starts both again; the new spawner runs the stop commands
//     due)
//   - signals: HUP reloads, USR1 logs the counters, USR2 re-asserts the
//     grants, TERM and INT stop; each once the daemon serves
//   - reload: one reload at a time, storms coalesced
//
// The firewall manager (re-assertion, expiry of grants) and the action
// and command pools are owned by their types, which wait for their
// goroutines when closed (Shutdown). Run returns the first task's
// failure (a *task.Error) or nil; Shutdown then stops the rest, in
// order.
func (s *Service) Run(ctx context.Context) error {
	g := task.New(ctx)
	serving := make(chan struct{})
	g.Go(task.Task{Name: "packet path", Run: s.d.Capture})
	g.Go(task.Task{Name: "expiry", Run: s.d.Expire})
	g.Go(task.Task{Name: "start-up", Run: func(ctx context.Context) error { return s.startUp(ctx, g, serving) }})
	if s.o.Spawner != nil {
		g.Go(task.Task{Name: "spawner watchdog", Run: s.watchSpawner})
	}
	if s.o.Signals != nil {
		reload := make(chan struct{}, 1)
		g.Go(task.Task{Name: "signals", Run: func(ctx context.Context) error { return s.signals(ctx, serving, reload) }})
		g.Go(task.Task{Name: "reload", Run: func(ctx context.Context) error { return s.reloads(ctx, reload) }})
	}
	return g.Wait()
}

// startUp waits for the packet path, then opens the control socket and
// reports the daemon ready.
func (s *Service) startUp(ctx context.Context, g *task.Group, serving chan<- struct{}) error {
	select {
	case <-s.Ready():
	case <-ctx.Done():
		return nil
	}
	if feature.Control && s.o.Listen != nil {
		srv, err := s.o.Listen(s)
		if err != nil {
			return err
		}
		if srv != nil {
			g.Go(task.Task{Name: "control server", Run: func(ctx context.Context) error {
				srv.Serve(ctx) // returns once the socket is removed
				return nil
			}})
		}
	}
	if s.o.OnReady != nil {
		s.o.OnReady()
	}
	close(serving)
	return nil
}

// watchSpawner stops the daemon when the spawner ends unasked: without
// it no command runs, not even a stop command, and the daemon, without
// root's privileges, cannot start a new one.
func (s *Service) watchSpawner(ctx context.Context) error {
	select {
	case <-s.o.Spawner.Died():
		return fmt.Errorf("%w: stopping (door commands and mail cannot run; pending stop commands run at the next start)", s.o.Spawner.Err())
	case <-ctx.Done():
		return nil
	}
}

// signals handles the daemon's signals once it serves: procd or a
// firewall hook may send one right after a (re)start, and it waits
// until then instead of killing the process.
func (s *Service) signals(ctx context.Context, serving <-chan struct{}, reload chan<- struct{}) error {
	select {
	case <-serving:
	case <-ctx.Done():
		return nil
	}
	for {
		var sig os.Signal
		select {
		case <-ctx.Done():
			return nil
		case sig = <-s.o.Signals:
		}
		switch sig {
		case syscall.SIGUSR1:
			s.log.Printf("%s", s.Stats())
		case syscall.SIGUSR2:
			// One line per firewall (re)load: logread shows that the
			// firewall's hook reached the daemon.
			s.log.Printf("re-asserting firewall rules and grants (SIGUSR2)")
			s.Reassert()
		case syscall.SIGHUP:
			select { // coalesce storms: one reload pending at most
			case reload <- struct{}{}:
			default:
			}
		default:
			if s.o.Stopping != nil {
				s.o.Stopping()
			}
			return task.ErrStop
		}
	}
}

// reloads reloads the configuration when asked, one at a time.
func (s *Service) reloads(ctx context.Context, reload <-chan struct{}) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-reload:
			if s.Reload() == nil && s.o.OnReload != nil {
				s.o.OnReload(s.Config())
			}
		}
	}
}
