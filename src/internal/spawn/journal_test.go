package spawn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestJournalFile: the journal round-trips; a line that does not parse
// is reported and the others kept; a journal others can write, or a
// symbolic link, is not read.
func TestJournalFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal")
	ps := []pending{
		{Door: "ssh", Addr: "10.0.0.1", Cmd: "/sbin/iptables -D INPUT -s 10.0.0.1 -j ACCEPT", Due: time.Unix(1700000000, 0)},
		{Door: "door \"quoted\"\n", Addr: "2001:db8::1", Cmd: "/bin/sh -c 'x'", Due: time.Unix(1700000001, 0)},
	}
	if err := writeJournal(path, ps); err != nil {
		t.Fatal(err)
	}
	got, err := readJournal(path)
	if err != nil || len(got) != 2 || got[0] != ps[0] || got[1] != ps[1] {
		t.Fatalf("read %+v %v", got, err)
	}
	b, _ := os.ReadFile(path)
	os.WriteFile(path, append(b, "12 \"d\" \"10.0.0.1; rm -rf /\" \"x\"\n"...), 0o600)
	got, err = readJournal(path)
	if err == nil || !strings.Contains(err.Error(), ":3:") || len(got) != 2 {
		t.Fatalf("bad line: %+v %v", got, err)
	}
	os.Chmod(path, 0o666)
	if _, err := readJournal(path); err == nil {
		t.Fatal("a journal others can write was read")
	}
	os.Chmod(path, 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(path, link)
	if _, err := readJournal(link); err == nil {
		t.Fatal("a symbolic link was followed")
	}
	if got, err := readJournal(filepath.Join(dir, "none")); err != nil || got != nil {
		t.Fatalf("a missing journal: %v %v", got, err)
	}
	if err := writeJournal(path, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("an empty journal is left: %v", err)
	}
}

// FuzzJournalLine: no line crashes the parser, and what parses writes
// back to the same line.
func FuzzJournalLine(f *testing.F) {
	f.Add(`1700000000 "ssh" "10.0.0.1" "/bin/true stop 10.0.0.1"`)
	f.Add(`-5 "" "::1" "x"`)
	f.Add(`1 "a" "10.0.0.1" "b" junk`)
	f.Fuzz(func(t *testing.T, l string) {
		p, err := parsePending(l)
		if err != nil {
			return
		}
		if _, err := checkAddr(p.Addr); err != nil || p.Cmd == "" {
			t.Fatalf("%q parsed to %+v", l, p)
		}
		again, err := parsePending(strings.TrimSuffix(p.line(), "\n"))
		if err != nil || again != p {
			t.Fatalf("%q: %+v re-parses to %+v (%v)", l, p, again, err)
		}
	})
}
