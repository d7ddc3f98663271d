package door

import (
	"errors"
	"fmt"
	"slices"

	"github.com/knockd-go/knockd-go/src/internal/config"
)

// ErrNoMoreSequences: a one-time door used its last sequence.
var ErrNoMoreSequences = errors.New("no more sequences left")

// NextOneTime marks the door's one-time sequence used in its file, as
// knockd does, and returns a new door with the file's next unused
// sequence. When none is left the returned door has no steps (it never
// opens) and the error says so; on any error the returned door is closed
// the same way, since a sequence that could not be marked used must not
// open again.
func (d *Door) NextOneTime() (*Door, error) {
	if d.OneTime == nil {
		return d, fmt.Errorf("door %s has no one-time sequences", d.Name)
	}
	n := *d
	n.Knock.Steps = nil
	ot := *d.OneTime
	n.OneTime = &ot
	open := ot.open
	if open == nil {
		open = config.OpenOneTime
	}
	seqs, err := config.ReadOneTimeWith(open, ot.File)
	if err != nil {
		return &n, err
	}
	used := -1
	for i, s := range seqs {
		if s.Offset == ot.Seq.Offset && slices.Equal(s.Steps, ot.Seq.Steps) {
			used = i
			break
		}
	}
	if used < 0 { // the file changed under us: find the sequence by its knocks
		for i, s := range seqs {
			if slices.Equal(s.Steps, ot.Seq.Steps) {
				used = i
				break
			}
		}
	}
	if used >= 0 {
		if err := config.MarkUsedWith(open, ot.File, seqs[used]); err != nil {
			return &n, err
		}
		seqs = slices.Delete(seqs, used, used+1)
	}
	if len(seqs) == 0 {
		return &n, fmt.Errorf("%w in the one time sequences file %s", ErrNoMoreSequences, ot.File)
	}
	ot.Seq = seqs[0]
	n.Knock.Steps = ot.Seq.Steps
	return &n, nil
}
