package command

import "time"

// Start queues a command as Queue does and waits until it was started,
// failed or refused: what the tests check.
func (r *Runner) Start(door, ip, start, stop string, timeout time.Duration) Outcome {
	return wait(func(done func(Outcome)) (Outcome, bool) { return r.Queue(door, ip, start, stop, timeout, done) })
}

// StartSPA is Start for an SPA client's command.
func (r *Runner) StartSPA(door, ip, cmd string) Outcome {
	return wait(func(done func(Outcome)) (Outcome, bool) { return r.QueueSPA(door, ip, cmd, done) })
}

func wait(queue func(done func(Outcome)) (Outcome, bool)) Outcome {
	ch := make(chan Outcome, 1)
	if o, ok := queue(func(o Outcome) { ch <- o }); !ok {
		return o
	}
	return <-ch
}
