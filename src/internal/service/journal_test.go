package service

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/logx/logxtest"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
	"github.com/knockd-go/knockd-go/src/internal/testsrc"
)

// lostJournals are the ways a journal can be lost before a start; each
// prepares the journal at path (a good one was written before).
var lostJournals = []struct {
	name    string
	prepare func(t *testing.T, path string)
}{
	{"deleted", func(t *testing.T, path string) { must(t, os.Remove(path)) }},
	{"symlink", func(t *testing.T, path string) {
		must(t, os.Rename(path, path+".target"))
		must(t, os.Symlink(path+".target", path))
	}},
	{"mode 0666", func(t *testing.T, path string) { must(t, os.Chmod(path, 0o666)) }},
	{"garbage", func(t *testing.T, path string) {
		must(t, os.WriteFile(path, []byte("\x00\x01garbage\nmore garbage\n"), 0o600))
	}},
	{"garbage after the header", func(t *testing.T, path string) {
		must(t, os.WriteFile(path, []byte(journalHeader+"0\n1795600000 r5 rot\nnot a record\n"), 0o600))
	}},
	{"no header", func(t *testing.T, path string) {
		must(t, os.WriteFile(path, []byte("1795600000 r5 rot\n"), 0o600))
	}},
	{"cut to nothing after a write failure", func(t *testing.T, path string) {
		must(t, os.Truncate(path, 0))
	}},
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// goodJournal writes a journal a store trusts (with nothing in it) at
// path.
func goodJournal(t *testing.T, path string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(journalHeader+"0\n"), 0o600))
}

// TestReplayJournalLostNotBefore: a journal the store cannot read and
// trust (each way it can be lost) makes the store's NotBefore the start,
// logged; a good one leaves it zero.
func TestReplayJournalLostNotBefore(t *testing.T) {
	now := func() time.Time { return replayNow }
	for _, c := range lostJournals {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "replay")
			goodJournal(t, path)
			c.prepare(t, path)
			log, rec := logxtest.NewRecorder(false)
			s := openReplayStore(path, log, now)
			defer s.close()
			if s.Known() || !s.NotBefore().Equal(replayNow) {
				t.Fatalf("known %v, not before %v, want %v; log:\n%s", s.Known(), s.NotBefore(), replayNow, rec)
			}
			if c.name != "deleted" && !rec.Has("are refused") {
				t.Fatalf("nothing logged:\n%s", rec)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "replay")
	goodJournal(t, path)
	if s := openReplayStore(path, logx.Discard(), now); !s.Known() || !s.NotBefore().IsZero() {
		t.Fatalf("a good journal: known %v, not before %v", s.Known(), s.NotBefore())
	}
}

// TestReplayJournalKeepsNotBefore: a journal rewritten after a start
// that knew nothing keeps that start as its NotBefore, so that the start
// after it does not accept what came before the first.
func TestReplayJournalKeepsNotBefore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	s := openReplayStore(path, logx.Discard(), func() time.Time { return replayNow })
	s.sync(true)
	s.close()
	s = openReplayStore(path, logx.Discard(), func() time.Time { return replayNow.Add(time.Minute) })
	defer s.close()
	if !s.Known() || !s.NotBefore().Equal(replayNow) {
		t.Fatalf("known %v, not before %v, want %v", s.Known(), s.NotBefore(), replayNow)
	}
}

// rotSecretConf is the rotating door of the service tests.
const rotConf = "[options]\n  spa_replay_file = DIR/journal\n[rot]\n  sequence_secret = GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n  sequence_step = 30\n  command = true\n"

var srcB = netip.MustParseAddr("198.51.100.2")

// TestRotatingRefusesStepsBeforeLostJournal: after a start whose journal
// was lost (each way), a rotating sequence of the step current at the
// start or the one before (sniffed before the restart) opens nothing; the
// next step's opens. With a good journal the current step opens.
func TestRotatingRefusesStepsBeforeLostJournal(t *testing.T) {
	p := rotate.Default([]byte("12345678901234567890"))
	p.Step = 30 * time.Second
	start := p.Start(p.Counter(replayNow) + 1).Add(10 * time.Second)
	c := p.Counter(start)
	run := func(t *testing.T, prepare func(t *testing.T, path string)) *svcRig {
		return newSvcWith(t, rotConf, testsrc.New([]netip.Addr{router}), func(dir string, o *Options) {
			path := filepath.Join(dir, "journal")
			goodJournal(t, path)
			if prepare != nil {
				prepare(t, path)
			}
			o.Now = func() time.Time { return start }
		})
	}
	for _, lost := range lostJournals {
		t.Run(lost.name, func(t *testing.T) {
			r := run(t, lost.prepare)
			r.src.Sequence(0, srcB, router, p.Sequence(c-1)...)
			r.src.Sequence(0, srcB, router, p.Sequence(c)...)
			r.src.Sequence(0, srcA, router, p.Sequence(c+1)...)
			r.wait("the next step's knock", func() bool { return r.rec.Has("198.51.100.1: rot: OPEN SESAME") })
			if r.rec.Has("198.51.100.2: rot: OPEN SESAME") {
				t.Fatalf("a step current before the start opened:\n%s", r.rec)
			}
		})
	}
	t.Run("good journal", func(t *testing.T) {
		r := run(t, nil)
		r.src.Sequence(0, srcB, router, p.Sequence(c)...)
		r.wait("the current step's knock", func() bool { return r.rec.Has("198.51.100.2: rot: OPEN SESAME") })
	})
}

// fullFS makes journals whose writes fail with ENOSPC while full is set,
// as on a file system that filled up.
type fullFS struct {
	mu   sync.Mutex
	full bool
}

func (f *fullFS) set(full bool) {
	f.mu.Lock()
	f.full = full
	f.mu.Unlock()
}

type fullFile struct {
	*os.File
	fs *fullFS
}

func (f fullFile) WriteString(s string) (int, error) {
	f.fs.mu.Lock()
	full := f.fs.full
	f.fs.mu.Unlock()
	if full {
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.WriteString(s)
}

func (f *fullFS) create(name string) (journalFile, error) {
	j, err := createJournal(name)
	if err != nil {
		return nil, err
	}
	return fullFile{j.(*os.File), f}, nil
}

// TestReplayJournalFullDisk: when the journal cannot be written, it is
// not removed: it is cut to nothing, so the next start does not trust
// it; the store keeps refusing what it accepted (in memory); the failure
// is logged once per journalRetry, not per packet; once there is room
// again the journal is written whole (and trusted again).
func TestReplayJournalFullDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	var mu sync.Mutex
	at := replayNow
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	log, rec := logxtest.NewRecorder(false)
	s := openReplayStore(path, log, now)
	fs := &fullFS{}
	s.create = fs.create
	v := verifier(t, s, "a")
	s.sync(true)
	p1 := replayPacket(t, 1)
	if _, err := v.Verify(p1, replaySrc); err != nil {
		t.Fatal(err)
	}
	fs.set(true)
	p2, p3 := replayPacket(t, 2), replayPacket(t, 3)
	for _, p := range [][]byte{p2, p3} {
		if _, err := v.Verify(p, replaySrc); err != nil {
			t.Fatal(err)
		}
	}
	s.Burn("rot", 42)
	if n := strings.Count(rec.String(), "error: SPA replay file "+path+": write"); n != 1 {
		t.Fatalf("%d write errors logged, want 1:\n%s", n, rec)
	}
	if !rec.Has("no space left on device") {
		t.Fatalf("the cause is not logged:\n%s", rec)
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Size() != 0 {
		t.Fatalf("the journal after a write failure: %v %v, want it there and empty", fi, err)
	}
	for _, p := range [][]byte{p1, p2, p3} {
		if _, err := v.Verify(p, replaySrc); reason(err) != "replayed packet" {
			t.Fatalf("after the write failure: %s, want replayed packet", reason(err))
		}
	}
	if n := openReplayStore(path, logx.Discard(), now); n.Known() || !n.NotBefore().Equal(replayNow) {
		t.Fatalf("the next start trusts the journal: known %v, not before %v", n.Known(), n.NotBefore())
	}

	// Room again: the next write after journalRetry writes it whole.
	fs.set(false)
	mu.Lock()
	at = at.Add(journalRetry)
	mu.Unlock()
	s.Burn("rot", 43)
	deadline := time.Now().Add(5 * time.Second)
	for !rec.Has("SPA replay file " + path + ": written again") {
		if time.Now().After(deadline) {
			t.Fatalf("the journal was not written again:\n%s", rec)
		}
		time.Sleep(time.Millisecond)
	}
	s.close()
	n := openReplayStore(path, logx.Discard(), now)
	if !n.Known() {
		t.Fatal("the journal written again is not trusted")
	}
	for _, p := range [][]byte{p1, p2, p3} {
		if _, err := verifier(t, n, "a").Verify(p, replaySrc); reason(err) != "replayed packet" {
			t.Fatalf("after a restart: %s, want replayed packet", reason(err))
		}
	}
	if b := n.Burnt()["rot"]; len(b) != 2 {
		t.Fatalf("burnt steps after a restart: %v", b)
	}
}

// TestReplayJournalSmallTmpfs: the same on a real tmpfs of 16 KiB filled
// up by another file: the journal stays, empty, the next start refuses
// what came before it, and nothing accepted is accepted again.
func TestReplayJournalSmallTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16k,mode=0700"); err != nil {
		t.Skipf("SKIP: cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	path := filepath.Join(dir, "replay")
	log, rec := logxtest.NewRecorder(false)
	s := openReplayStore(path, log, func() time.Time { return replayNow })
	defer s.close()
	v := verifier(t, s, "a")
	s.sync(false)
	filler, err := os.Create(filepath.Join(dir, "filler"))
	must(t, err)
	defer filler.Close()
	for i := 0; i < 64; i++ {
		if _, err := filler.Write(make([]byte, 1024)); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	var accepted [][]byte
	for i := int64(0); i < 200 && !rec.Has("error: SPA replay file"); i++ {
		p := replayPacket(t, 100+i)
		if _, err := v.Verify(p, replaySrc); err != nil {
			t.Fatal(err)
		}
		accepted = append(accepted, p)
	}
	if !rec.Has("no space left on device") {
		t.Fatalf("the journal never failed to grow on a full tmpfs:\n%s", rec)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("the journal after a write failure: %v %v, want it there and empty", fi, err)
	}
	for _, p := range accepted {
		if _, err := v.Verify(p, replaySrc); reason(err) != "replayed packet" {
			t.Fatalf("after the write failure: %s, want replayed packet", reason(err))
		}
	}
	if n := openReplayStore(path, logx.Discard(), func() time.Time { return replayNow.Add(time.Second) }); n.Known() {
		t.Fatal("the next start trusts the journal")
	}
}

// TestReplayNoJournalNotBefore: without a journal file configured, the
// store knows nothing of before the start either.
func TestReplayNoJournalNotBefore(t *testing.T) {
	if s := openReplayStore("", logx.Discard(), func() time.Time { return replayNow }); s.Known() || !s.NotBefore().Equal(replayNow) {
		t.Fatalf("known %v, not before %v", s.Known(), s.NotBefore())
	}
}
