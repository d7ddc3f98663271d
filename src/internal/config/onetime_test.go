package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTemp(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func otpLines(seqs []OneTimeSeq) string {
	var parts []string
	for _, s := range seqs {
		parts = append(parts, fmt.Sprintf("%d@%d=%s", s.Line, s.Offset, seqString(s.Steps)))
	}
	return strings.Join(parts, " ")
}

func TestReadOneTime(t *testing.T) {
	for _, c := range []struct {
		name, body, want string
	}{
		{"plain", "1000,2000\n3000:udp,4000\n", "1@0=1000:tcp,2000:tcp 2@10=3000:udp,4000:tcp"},
		{"comments blanks bad lines", "# header\n\n 1,2\nnot a sequence\n1,,2\n  # 5,6\n 7:icmp\n 8,9\n", "3@10=1:tcp,2:tcp 8@51=8:tcp,9:tcp"},
		{"used lines", "#000,2000\n 3000,4000\n", "2@10=3000:tcp,4000:tcp"},
		{"no final newline", " 1,2\n 3,4", "1@0=1:tcp,2:tcp 2@5=3:tcp,4:tcp"},
		{"crlf", " 1,2\r\n 3,4\r\n\r\n 5\r\n", "1@0=1:tcp,2:tcp 2@6=3:tcp,4:tcp 4@14=5:tcp"},
		{"empty", "", ""},
		{"only comments", "# a\n#b\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := writeTemp(t, "otp", c.body)
			seqs, err := ReadOneTime(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := otpLines(seqs); got != c.want {
				t.Fatalf("ReadOneTime = %q, want %q", got, c.want)
			}
			// Every offset is the first byte of its line.
			for _, s := range seqs {
				if s.Offset > 0 && c.body[s.Offset-1] != '\n' {
					t.Errorf("offset %d of line %d is not at a line start", s.Offset, s.Line)
				}
			}
		})
	}
}

func TestReadOneTimeErrors(t *testing.T) {
	if _, err := ReadOneTime(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file accepted")
	}
	if _, err := ReadOneTime(t.TempDir()); err == nil {
		t.Error("directory accepted")
	}
	if os.Geteuid() != 0 { // root may write anything
		p := writeTemp(t, "ro", " 1,2\n")
		if err := os.Chmod(p, 0o400); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadOneTime(p); err == nil {
			t.Error("read-only file accepted: used sequences could not be marked")
		}
	}
	p := writeTemp(t, "long", strings.Repeat("1", MaxLineLength+10)+"\n 2,3\n")
	if _, err := ReadOneTime(p); err == nil {
		t.Error("over-long line accepted")
	}
}

// TestMarkUsed uses up a file sequence by sequence: each mark changes
// exactly the first byte of the used line to '#', and the next usable line
// becomes the first.
func TestMarkUsed(t *testing.T) {
	for _, body := range []string{
		" 1000,2000\n# comment\n 3000:udp\nbad\n 4000,5000\n",
		"2000,3000\n4000\n",
		" 1,2\r\n\r\n 3,4\r\n 5\r\n",
		" 1\n 2", // no final newline
	} {
		p := writeTemp(t, "otp", body)
		want := []byte(body)
		for round := 0; ; round++ {
			seqs, err := ReadOneTime(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(seqs) == 0 {
				break
			}
			if round > 10 {
				t.Fatalf("%q: sequences never run out", body)
			}
			first := seqs[0]
			if err := MarkUsed(p, first); err != nil {
				t.Fatal(err)
			}
			want[first.Offset] = '#'
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("after marking line %d:\n%q\nwant\n%q", first.Line, got, want)
			}
			again, err := ReadOneTime(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(again) != len(seqs)-1 || (len(again) > 0 && again[0].Line != seqs[1].Line) {
				t.Fatalf("after marking line %d: %s, want the rest of %s", first.Line, otpLines(again), otpLines(seqs))
			}
		}
	}
	if err := MarkUsed(filepath.Join(t.TempDir(), "missing"), OneTimeSeq{}); err == nil {
		t.Error("MarkUsed on a missing file succeeded")
	}
}

func TestOneTimeSequencesDirective(t *testing.T) {
	c, err := parse("[d]\nsequence = 1,2\nOne_Time_Sequences = /some/file\n")
	if err != nil {
		t.Fatal(err)
	}
	// The file is read when the door is compiled (package door).
	if dr := one(t, c); dr.OneTimeFile != "/some/file" || dr.Where("ONE_TIME_SEQUENCES").Line != 3 {
		t.Fatalf("door: %+v", dr)
	}
	if _, err := parse("[d]\none_time_sequences = /f\n"); err != nil {
		t.Fatalf("without a sequence: %v", err)
	}
	if _, err := parse("[d]\none_time_sequences =\n"); err == nil || !strings.Contains(err.Error(), "empty file name") {
		t.Fatalf("empty name: %v", err)
	}
}

// TestOneTimeFileChecks: a one-time file opens doors, so one that someone
// else could change is refused.
func TestOneTimeFileChecks(t *testing.T) {
	dir := t.TempDir()
	good := writeTemp(t, "otp", "1000,2000\n")
	if _, err := ReadOneTime(good); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(good, link)
	if _, err := ReadOneTime(link); err == nil || !strings.Contains(err.Error(), link+" is a symbolic link, refused") {
		t.Fatalf("symlink: %v", err)
	}
	if err := MarkUsed(link, OneTimeSeq{}); err == nil {
		t.Fatal("MarkUsed followed a symbolic link")
	}
	for _, mode := range []os.FileMode{0o620, 0o602, 0o666} {
		os.Chmod(good, mode)
		if _, err := ReadOneTime(good); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
			t.Fatalf("mode %#o: %v", mode, err)
		}
	}
	os.Chmod(good, 0o644)
	if os.Geteuid() == 0 {
		os.Chown(good, 1000, 1000)
		if _, err := ReadOneTime(good); err == nil || !strings.Contains(err.Error(), "is owned by uid 1000, not root") {
			t.Fatalf("owned by someone else: %v", err)
		}
	}
	if _, err := ReadOneTime(dir); err == nil {
		t.Fatal("a directory accepted")
	}
}
