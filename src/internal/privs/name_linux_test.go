package privs

import (
	"encoding/binary"
	"os"
	"slices"
	"strconv"
	"testing"
)

// dirent returns a linux_dirent64 record of name, padded to 8 bytes.
func dirent(name string) []byte {
	n := (19 + len(name) + 1 + 7) &^ 7
	b := make([]byte, n)
	binary.NativeEndian.PutUint16(b[16:18], uint16(n))
	copy(b[19:], name)
	return b
}

func TestDirentNames(t *testing.T) {
	var b []byte
	for _, n := range []string{".", "..", "1234", "98765"} {
		b = append(b, dirent(n)...)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want []string
	}{
		{"records", b, []string{"1234", "98765"}},
		{"cut short", b[:len(b)-3], []string{"1234"}},
		{"bad length", append(dirent("7")[:16], 0, 0, 0), nil},
		{"empty", nil, nil},
	} {
		if got := direntNames(tc.in, nil); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestTasks: the thread ids of this process, the main thread's among them.
func TestTasks(t *testing.T) {
	ids := tasks()
	if !slices.Contains(ids, strconv.Itoa(os.Getpid())) {
		t.Fatalf("tasks() = %q, without the main thread %d", ids, os.Getpid())
	}
}
