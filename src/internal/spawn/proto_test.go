package spawn

import (
	"reflect"
	"syscall"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		r    request
	}{
		{"start", request{kind: msgStart, id: 1, req: Request{Kind: DoorStart, Door: "ssh", Addr: "10.0.0.1"}}},
		{"spa command", request{kind: msgStart, id: 0xffffffff, req: Request{Kind: DoorCommand, Door: "d", Addr: "2001:db8::1", Command: "touch /x"}}},
		{"notify", request{kind: msgStart, id: 7, req: Request{Kind: Notify, Door: "", Addr: ""}}},
		{"reload", request{kind: msgReload, id: 9}},
		{"kill", request{kind: msgKill, pid: 4242}},
		{"file", request{kind: msgFile, id: 5, op: OpenLog, path: "/var/log/knockd.log"}},
		{"file without a path", request{kind: msgFile, id: 6, op: CommitReplay}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.r.encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeRequest(b)
			if err != nil {
				t.Fatalf("decode % x: %v", b, err)
			}
			if !reflect.DeepEqual(got, tt.r) {
				t.Fatalf("got %+v, want %+v", got, tt.r)
			}
			// Every shorter message is refused, and so is a longer one.
			for i := range b {
				if _, err := decodeRequest(b[:i]); err == nil {
					t.Errorf("prefix of %d bytes accepted", i)
				}
			}
			if _, err := decodeRequest(append(b, 0)); err == nil {
				t.Error("trailing byte accepted")
			}
		})
	}
}

func TestReplyRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		r    reply
	}{
		{"started", reply{kind: msgStarted, id: 3, pid: 1234}},
		{"failed", reply{kind: msgStarted, id: 4, errno: syscall.ENOENT, err: "fork/exec /nope: no such file or directory"}},
		{"hello", reply{kind: msgStarted}},
		{"exited", reply{kind: msgExited, pid: 1234, status: 7 << 8}},
		{"killed", reply{kind: msgExited, pid: 1, status: uint32(syscall.SIGKILL)}},
		{"loaded", reply{kind: msgLoaded, id: 2}},
		{"load failed", reply{kind: msgLoaded, id: 2, err: "config: line 3: bad"}},
		{"note", reply{kind: msgNote, err: "spawner: ran a stop command"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.r.encode()
			got, err := decodeReply(b)
			if err != nil || got != tt.r {
				t.Fatalf("got %+v %v, want %+v", got, err, tt.r)
			}
			for i := range b {
				if _, err := decodeReply(b[:i]); err == nil {
					t.Errorf("prefix of %d bytes accepted", i)
				}
			}
			if _, err := decodeReply(append(b, 0)); err == nil {
				t.Error("trailing byte accepted")
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown kind", []byte{'Z', 0, 0, 0, 1}},
		{"unknown kind of child", []byte{'S', 0, 0, 0, 1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"no kind of child", []byte{'S', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"string past the end", []byte{'S', 0, 0, 0, 1, 1, 0, 0, 0, 9, 'a'}},
		{"huge string", []byte{'S', 0, 0, 0, 1, 1, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		if _, err := decodeRequest(tt.b); err == nil {
			t.Errorf("%s: request accepted", tt.name)
		}
		if _, err := decodeReply(tt.b); err == nil {
			t.Errorf("%s: reply accepted", tt.name)
		}
	}
	long := request{kind: msgStart, req: Request{Kind: DoorCommand, Command: string(make([]byte, maxMsg))}}
	if _, err := long.encode(); err == nil {
		t.Error("a message over maxMsg encoded")
	}
}

func TestStatusError(t *testing.T) {
	tests := []struct {
		ws   syscall.WaitStatus
		want string
	}{
		{0, ""},
		{3 << 8, "exit status 3"},
		{syscall.WaitStatus(syscall.SIGKILL), "signal: killed"},
	}
	for _, tt := range tests {
		err := StatusError(tt.ws)
		if got := ""; err != nil {
			got = err.Error()
			if got != tt.want {
				t.Errorf("StatusError(%#x) = %q, want %q", uint32(tt.ws), got, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("StatusError(%#x) = nil, want %q", uint32(tt.ws), tt.want)
		}
	}
}

// FuzzDecode: no input crashes a decoder, and what decodes encodes back
// to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, r := range []request{
		{kind: msgStart, id: 1, req: Request{Kind: DoorCommand, Door: "d", Addr: "10.0.0.1", Command: "x"}},
		{kind: msgReload, id: 3},
		{kind: msgKill, pid: 9},
	} {
		b, _ := r.encode()
		f.Add(b)
	}
	f.Add(reply{kind: msgStarted, id: 1, pid: 2, errno: 2, err: "x"}.encode())
	f.Add(reply{kind: msgExited, pid: 2, status: 256}.encode())
	f.Add(reply{kind: msgLoaded, id: 2, err: "x"}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeRequest(b); err == nil {
			again, err := r.encode()
			if err != nil || string(again) != string(b) {
				t.Fatalf("request %+v: % x re-encodes to % x (%v)", r, b, again, err)
			}
		}
		if r, err := decodeReply(b); err == nil {
			if again := r.encode(); string(again) != string(b) {
				t.Fatalf("reply %+v: % x re-encodes to % x", r, b, again)
			}
		}
	})
}
