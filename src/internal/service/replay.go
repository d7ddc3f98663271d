package service

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
	"github.com/knockd-go/knockd-go/src/internal/spa"
	"github.com/knockd-go/knockd-go/src/internal/spawn"
)

// replayStore keeps the SPA replay cache of each door (one per door: a key
// holder of one door cannot fill another's) across reloads, and in a file
// across restarts, so that a packet accepted before a restart is refused
// after it. The file is a journal: a header "knockd-replay 1 <not
// before>", then lines "<timestamp> <sha256 hex> <door>", appended to as
// packets are accepted and rewritten with the live entries at start and
// when it has grown. It also keeps the time steps whose rotating
// sequences opened a door ("<time> r<step> <door>"), so that a restart
// does not make them usable again. It belongs under /var/run (tmpfs on
// routers: no flash wear), mode 0600, and is never followed through a
// symbolic link.
//
// When there is no journal it can read and trust (a fresh boot; a file
// deleted, replaced by a link, open to others, without the header or with
// a line that is not a record), the store does not know what came
// before: NotBefore is the start, and the doors refuse SPA packets
// stamped and rotating steps current before it. The journal keeps that
// time in its header until the steps it covers are long gone, so a
// journal rewritten after such a start does not vouch for what came
// before it either.
//
// A journal that cannot be written (a full or read-only file system) is
// never removed: the store keeps everything in memory, cuts the file to
// nothing (which needs no space) so that the next start does not trust
// it, logs the failure (at most once per journalRetry) and tries to
// write it whole again at most once per journalRetry.
type replayStore struct {
	path string
	log  *logx.Logger
	now  func() time.Time

	// files opens and replaces the journal (osJournal, or the spawner's
	// for a daemon that cannot write the journal's directory); create
	// makes the new journal (files.create; tests inject a file system
	// that fills up).
	files  journalFiles
	create func(name string) (journalFile, error)

	mu         sync.Mutex
	f          journalFile // the journal, nil when it cannot be written
	records    int         // lines in the journal
	caches     map[string]*spa.ReplayCache
	loaded     map[string][]spa.Digest // read at start, per door
	compacting bool
	compactor  sync.WaitGroup // the compaction running; close waits for it
	closed     bool           // no compaction starts once set
	pending    []string       // lines appended while compacting
	known      bool           // a journal was read: the caches know what came before
	// notBefore is when what the store knows starts: the doors refuse
	// what was stamped before it (zero: the journal knows everything).
	notBefore time.Time
	broken    bool      // the journal could not be written: it is not trusted
	retryAt   time.Time // when to try writing it whole again
	// burnt are the time steps whose rotating sequences opened each door,
	// the last rotate.MaxBurnt of each, journalled as "<time> r<step>
	// <door>" lines.
	burnt map[string][]uint64
}

// maxRecords is when the journal is rewritten: live entries are at most
// spa.DefaultReplayCap per door.
func (s *replayStore) maxRecords() int {
	return 2*spa.DefaultReplayCap*max(len(s.caches), 1) + 2*rotate.MaxBurnt*len(s.burnt) + 64
}

// openReplayStore reads the journal at path (if any) and opens it for
// appending. An empty path keeps the caches in memory only.
func openReplayStore(path string, log *logx.Logger, now func() time.Time) *replayStore {
	return openReplayStoreOn(path, osJournal{}, log, now)
}

// openReplayStoreOn is openReplayStore with the journal's files opened
// by files.
func openReplayStoreOn(path string, files journalFiles, log *logx.Logger, now func() time.Time) *replayStore {
	s := &replayStore{path: path, log: log, now: now, files: files, create: files.create, caches: map[string]*spa.ReplayCache{}, loaded: map[string][]spa.Digest{}, burnt: map[string][]uint64{}}
	if path == "" {
		s.notBefore = now().Truncate(time.Second) // nothing is known of before
		return s
	}
	switch err := s.read(); {
	case err == nil:
		s.known = true
		return s
	case errors.Is(err, fs.ErrNotExist):
	default:
		log.Printf("warning: SPA replay file %s: %v (SPA packets stamped and rotating steps current before this start are refused)", path, err)
	}
	s.notBefore = now().Truncate(time.Second)
	s.loaded, s.burnt = map[string][]spa.Digest{}, map[string][]uint64{}
	return s
}

// journalFile is the journal open for appending.
type journalFile interface {
	WriteString(string) (int, error)
	Close() error
}

// journalFiles opens and replaces the journal at path; the new journal
// is written as path.new, then renamed over it.
type journalFiles interface {
	open(path string) (*os.File, error)      // for reading
	openWrite(path string) (*os.File, error) // for cutting it short
	create(tmp string) (journalFile, error)  // a new file, never through a link
	rename(tmp, path string) error
	remove(tmp string)
}

// osJournal is the file system itself.
type osJournal struct{}

func (osJournal) open(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

func (osJournal) openWrite(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

func (osJournal) create(tmp string) (journalFile, error) { return createJournal(tmp) }

func (osJournal) rename(tmp, path string) error { return os.Rename(tmp, path) }

func (osJournal) remove(tmp string) { os.Remove(tmp) }

// spawnerJournal has the spawner open and replace the journal, for a
// daemon that runs as a user who cannot write its directory (the files
// it creates are the daemon's user's).
type spawnerJournal struct{ do Opener }

func (j spawnerJournal) open(path string) (*os.File, error) { return j.do(spawn.ReadReplay, path) }

func (j spawnerJournal) openWrite(path string) (*os.File, error) {
	return j.do(spawn.WriteReplay, path)
}

func (j spawnerJournal) create(tmp string) (journalFile, error) {
	f, err := j.do(spawn.CreateReplay, strings.TrimSuffix(tmp, ".new"))
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (j spawnerJournal) rename(tmp, path string) error {
	if tmp != path+".new" {
		return fmt.Errorf("journal: %s is not %s.new", tmp, path)
	}
	_, err := j.do(spawn.CommitReplay, path)
	return err
}

func (j spawnerJournal) remove(tmp string) {
	_, _ = j.do(spawn.DiscardReplay, strings.TrimSuffix(tmp, ".new"))
}

// createJournal creates a new journal file, never through a link.
func createJournal(name string) (journalFile, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
}

// journalRetry is how often a journal that could not be written is
// tried again (and its failure logged).
const journalRetry = 10 * time.Second

// journalHeader starts every journal; the number after it is NotBefore
// (Unix seconds, 0 for none).
const journalHeader = "knockd-replay 1 "

// maxJournal bounds what is read of a journal (it holds at most about
// maxRecords lines of under 100 bytes).
const maxJournal = 16 << 20

// read loads the journal. It fails for a journal that cannot be
// trusted: not this user's private regular file, no header, or a line
// that is not a record (a torn last line, cut short by a crash, is
// skipped).
func (s *replayStore) read() error {
	f, err := s.files.open(s.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := checkPrivate(f); err != nil {
		return err
	}
	r := bufio.NewReader(io.LimitReader(f, maxJournal+1))
	head, err := r.ReadString('\n')
	nb, ok := strings.CutPrefix(strings.TrimSuffix(head, "\n"), journalHeader)
	t, perr := strconv.ParseInt(nb, 10, 64)
	if err != nil || !ok || perr != nil || t < 0 {
		return errors.New("no journal header (cut short after a write failure, or not a journal)")
	}
	if t > 0 {
		s.notBefore = time.Unix(t, 0)
	}
	size := len(head)
	for n := 2; ; n++ {
		l, err := r.ReadString('\n')
		size += len(l)
		if size > maxJournal {
			return fmt.Errorf("larger than %d bytes", maxJournal)
		}
		if err == io.EOF {
			return nil // a torn last line (or none)
		}
		if err != nil {
			return err
		}
		if !s.record(strings.TrimSuffix(l, "\n")) {
			return fmt.Errorf("line %d: not a journal record", n)
		}
	}
}

// record loads one journal line; false when it is not a record.
func (s *replayStore) record(l string) bool {
	ts, rest, ok1 := strings.Cut(l, " ")
	h, door, ok2 := strings.Cut(rest, " ")
	t, err := strconv.ParseInt(ts, 10, 64)
	if !ok1 || !ok2 || err != nil || door == "" {
		return false
	}
	if step, ok := strings.CutPrefix(h, "r"); ok {
		c, err := strconv.ParseUint(step, 10, 64)
		if err != nil {
			return false
		}
		s.addBurnt(door, c)
		return true
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return false
	}
	d := spa.Digest{TS: t}
	copy(d.Key[:], b)
	s.loaded[door] = append(s.loaded[door], d)
	return true
}

// checkPrivate refuses a file that is not a regular file of this user
// (or root) readable or writable by nobody else.
func checkPrivate(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		return errors.New("not a regular file")
	case ok && int(st.Uid) != os.Geteuid() && st.Uid != 0:
		// root's: the spawner made it for a daemon run as another user.
		return fmt.Errorf("owned by uid %d, not %d or root", st.Uid, os.Geteuid())
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("mode %#o: readable or writable by others", fi.Mode().Perm())
	}
	return nil
}

// Known reports whether the caches start with what was accepted before
// (false: refuse packets stamped before the start).
func (s *replayStore) Known() bool { return s.known }

// NotBefore is when what the store knows starts (zero: it knows all): SPA
// packets stamped and rotating steps current before it are refused.
func (s *replayStore) NotBefore() time.Time { return s.notBefore }

// cache returns door's cache, made at the first call with the digests
// the journal held for the door within its window.
func (s *replayStore) cache(door string, window time.Duration) *spa.ReplayCache {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.caches[door]; c != nil {
		return c
	}
	c := spa.NewReplayCache(0)
	now := s.now()
	for _, d := range s.loaded[door] {
		if age := now.Unix() - d.TS; age <= int64(window/time.Second) && -age <= int64(window/time.Second) {
			c.Remember(d.Key, d.TS, now, window)
		}
	}
	delete(s.loaded, door)
	if s.path != "" {
		c.OnAdd = func(key [32]byte, ts int64) { s.append(door, key, ts) }
	}
	s.caches[door] = c
	return c
}

// sync rewrites the journal with what the caches and the burnt steps
// hold (after a compile made them), and opens it for appending; without
// SPA or rotating doors there is no journal.
func (s *replayStore) sync(rotating bool) {
	if s.path == "" {
		return
	}
	s.mu.Lock()
	caches := make(map[string]*spa.ReplayCache, len(s.caches))
	for k, v := range s.caches {
		caches[k] = v
	}
	s.mu.Unlock()
	if len(caches) == 0 && !rotating {
		return
	}
	lines := s.lines(caches)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rewrite(append(lines, s.burntLines()...))
}

// addBurnt records that step opened door, keeping the last
// rotate.MaxBurnt steps of each door. s.mu is held (or s is not shared
// yet).
func (s *replayStore) addBurnt(door string, step uint64) {
	if slices.Contains(s.burnt[door], step) {
		return
	}
	b := append(s.burnt[door], step)
	if len(b) > rotate.MaxBurnt {
		b = b[len(b)-rotate.MaxBurnt:]
	}
	s.burnt[door] = b
}

// burntLines returns the journal lines of the burnt steps. s.mu is held.
func (s *replayStore) burntLines() []string {
	var out []string
	now := strconv.FormatInt(s.now().Unix(), 10)
	for door, steps := range s.burnt {
		for _, c := range steps {
			out = append(out, now+" r"+strconv.FormatUint(c, 10)+" "+door+"\n")
		}
	}
	return out
}

// Burnt returns the rotating steps that opened each door before this
// start, for the daemon to keep refusing them.
func (s *replayStore) Burnt() map[string][]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]uint64, len(s.burnt))
	for door, steps := range s.burnt {
		out[door] = slices.Clone(steps)
	}
	return out
}

// Burn journals that step's rotating sequence opened door (the daemon's
// OnBurn).
func (s *replayStore) Burn(door string, step uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addBurnt(door, step)
	s.write(strconv.FormatInt(s.now().Unix(), 10) + " r" + strconv.FormatUint(step, 10) + " " + door + "\n")
}

func line(door string, d spa.Digest) string {
	return strconv.FormatInt(d.TS, 10) + " " + hex.EncodeToString(d.Key[:]) + " " + door + "\n"
}

// append journals one accepted packet. It runs under the cache's lock, so
// it never calls into a cache.
func (s *replayStore) append(door string, key [32]byte, ts int64) {
	l := line(door, spa.Digest{Key: key, TS: ts})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write(l)
}

// write appends the line l to the journal. s.mu is held.
func (s *replayStore) write(l string) {
	if s.compacting {
		s.pending = append(s.pending, l)
	}
	if s.f == nil {
		if s.broken && !s.compacting && !s.now().Before(s.retryAt) {
			s.startCompact() // writes it whole again, from memory
		}
		return
	}
	if _, err := s.f.WriteString(l); err != nil {
		s.fail(err)
		return
	}
	s.records++
	if s.records > s.maxRecords() && !s.compacting {
		s.startCompact()
	}
}

// startCompact starts a compaction, off the caller's lock (it takes each
// cache's), unless the store is closed. s.mu is held, as close's is when
// it sets closed, so the WaitGroup is never added to while close waits.
func (s *replayStore) startCompact() {
	if s.closed {
		return
	}
	s.compacting = true
	s.compactor.Add(1)
	go func() {
		defer s.compactor.Done()
		s.compact()
	}()
}

// fail gives up the journal that could not be written: what it misses is
// kept in memory, and the file is cut to nothing (no header: the next
// start does not trust it) but never removed. s.mu is held.
func (s *replayStore) fail(err error) {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if !s.broken || !s.now().Before(s.retryAt) {
		s.log.Printf("error: SPA replay file %s: %v (kept in memory; the next start refuses SPA packets stamped and rotating steps current before it)", s.path, err)
	}
	s.broken, s.retryAt = true, s.now().Add(journalRetry)
	if err := truncateJournal(s.files, s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Printf("error: SPA replay file %s: cannot mark it incomplete: %v", s.path, err)
	}
}

// truncateJournal cuts the journal at path to nothing, never through a
// link (it frees its space, and needs none).
func truncateJournal(files journalFiles, path string) error {
	f, err := files.openWrite(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := checkPrivate(f); err != nil {
		return err
	}
	return f.Truncate(0)
}

// lines returns the journal lines of the caches. It takes each cache's
// lock: s.mu must not be held (append runs under a cache's lock and takes
// s.mu).
func (s *replayStore) lines(caches map[string]*spa.ReplayCache) []string {
	var out []string
	for door, c := range caches {
		for _, d := range c.Digests() {
			out = append(out, line(door, d))
		}
	}
	return out
}

// compact rewrites the journal with the live entries.
func (s *replayStore) compact() {
	s.mu.Lock()
	caches := make(map[string]*spa.ReplayCache, len(s.caches))
	for k, v := range s.caches {
		caches[k] = v
	}
	s.mu.Unlock()
	lines := s.lines(caches) // takes each cache's lock, not s.mu
	s.mu.Lock()
	defer s.mu.Unlock()
	lines = append(lines, s.burntLines()...)
	s.rewrite(append(lines, s.pending...))
	s.pending, s.compacting = nil, false
}

// rewrite replaces the journal with lines (atomically, by rename). s.mu
// is held.
func (s *replayStore) rewrite(lines []string) {
	tmp := s.path + ".new"
	s.files.remove(tmp)
	f, err := s.create(tmp)
	if err == nil {
		nb := int64(0)
		if !s.notBefore.IsZero() {
			nb = s.notBefore.Unix()
		}
		_, err = f.WriteString(journalHeader + strconv.FormatInt(nb, 10) + "\n" + strings.Join(lines, ""))
		if err == nil {
			err = s.files.rename(tmp, s.path)
		}
		if err != nil {
			f.Close()
			s.files.remove(tmp)
		}
	}
	if err != nil {
		s.fail(err)
		return
	}
	if s.f != nil {
		s.f.Close()
	}
	if s.broken {
		s.log.Printf("SPA replay file %s: written again", s.path)
		s.broken = false
	}
	s.f, s.records = f, len(lines)
}

// close closes the journal once a compaction running has written it.
func (s *replayStore) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.compactor.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}
