package spawn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A pending stop command: the start command of Door ran for Addr, and
// Cmd (its stop command, the address in it) is due at Due. The spawner
// writes it to the journal before the start command runs, and removes it
// once the stop command has started, so that a start after any exit
// (spawner killed, daemon killed, power cut) runs it.
type pending struct {
	Door, Addr, Cmd string
	Due             time.Time
}

// Journal limits: a journal larger than maxJournal is not read, and a
// start is refused while maxPending stop commands wait.
const (
	maxJournal = 4 << 20
	maxPending = 16384
)

// One line a pending stop command: due (Unix seconds), then the door,
// the address and the command as Go quoted strings.
func (p pending) line() string {
	return strconv.FormatInt(p.Due.Unix(), 10) + " " + strconv.Quote(p.Door) + " " + strconv.Quote(p.Addr) + " " + strconv.Quote(p.Cmd) + "\n"
}

func parsePending(l string) (pending, error) {
	due, rest, ok := strings.Cut(l, " ")
	sec, err := strconv.ParseInt(due, 10, 64)
	if !ok || err != nil {
		return pending{}, errors.New("bad due time")
	}
	var f [3]string
	for i := range f {
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return pending{}, errors.New("bad quoted field")
		}
		f[i], _ = strconv.Unquote(q)
		rest = strings.TrimPrefix(rest[len(q):], " ")
	}
	if rest != "" {
		return pending{}, errors.New("trailing text")
	}
	if _, err := checkAddr(f[1]); err != nil || f[2] == "" {
		return pending{}, errors.New("bad address or empty command")
	}
	return pending{Door: f[0], Addr: f[1], Cmd: f[2], Due: time.Unix(sec, 0)}, nil
}

// readJournal returns the pending stop commands of path. A missing
// journal has none; one that is not a regular file of root's, or does
// not parse, is an error (its lines that parse are returned too).
func readJournal(path string) ([]pending, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !st.Mode().IsRegular() || st.Mode().Perm()&0o022 != 0 || ok && sys.Uid != uint32(os.Geteuid()) {
		return nil, fmt.Errorf("journal %s: not a regular file of this user that only it can write: ignored", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxJournal+1))
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if len(b) > maxJournal {
		return nil, fmt.Errorf("journal %s: larger than %d bytes: ignored", path, maxJournal)
	}
	var out []pending
	var bad error
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxJournal)
	for n := 1; sc.Scan(); n++ {
		p, err := parsePending(sc.Text())
		if err != nil {
			bad = fmt.Errorf("journal %s:%d: %w", path, n, err)
			continue
		}
		out = append(out, p)
	}
	return out, bad
}

// writeJournal replaces path with ps, durably: a new file is written and
// synced, then renamed over the old one. An empty journal is removed.
func writeJournal(path string, ps []pending) error {
	if len(ps) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("journal: %w", err)
		}
		return nil
	}
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.line())
	}
	tmp := path + ".new"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	_, err = f.WriteString(b.String())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("journal: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
