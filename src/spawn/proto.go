package spawn

import (
	"encoding/binary"
	"errors"
	"syscall"
)

// The protocol between the daemon and the spawner: one message per
// SOCK_SEQPACKET packet, big-endian integers, strings and lists
// prefixed with their length.
//
// Daemon to spawner:
//
//	'S' id:u32 flags:u8 [uid:u32 gid:u32 groups:list(u32)] path:str args:list(str) env:list(str)
//	    with stdin, stdout and stderr as SCM_RIGHTS
//	'K' pid:u32                          SIGKILL to the process group of a child
//
// Spawner to daemon:
//
//	'P' id:u32 pid:u32 errno:u32 err:str  the child of request id started (pid) or not (err)
//	'X' pid:u32 status:u32                a child exited (its wait status)
//
// where str is len:u32 bytes and list(T) is count:u32 T....
const (
	msgStart   = 'S'
	msgKill    = 'K'
	msgStarted = 'P'
	msgExited  = 'X'

	flagCred = 1 << 0 // uid, gid and groups follow
	flagNNP  = 1 << 1 // no_new_privs

	// maxMsg bounds a message: command lines, environment and all.
	maxMsg = 64 << 10
	// maxErr bounds the error text of a reply.
	maxErr = 1024
)

var errMalformed = errors.New("malformed message")

// request is a message to the spawner.
type request struct {
	kind byte
	id   uint32 // msgStart
	pid  uint32 // msgKill
	cmd  Cmd    // msgStart, without its files
}

// reply is a message from the spawner.
type reply struct {
	kind   byte
	id     uint32        // msgStarted
	pid    uint32        // msgStarted, msgExited
	errno  syscall.Errno // msgStarted: the start's error number, if any
	err    string        // msgStarted: why the child did not start
	status uint32        // msgExited
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendStrs(b []byte, ss []string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(ss)))
	for _, s := range ss {
		b = appendStr(b, s)
	}
	return b
}

func (r request) encode() ([]byte, error) {
	b := []byte{r.kind}
	switch r.kind {
	case msgStart:
		b = binary.BigEndian.AppendUint32(b, r.id)
		var flags byte
		if r.cmd.Cred != nil {
			flags |= flagCred
		}
		if r.cmd.NoNewPrivs {
			flags |= flagNNP
		}
		b = append(b, flags)
		if c := r.cmd.Cred; c != nil {
			b = binary.BigEndian.AppendUint32(b, c.Uid)
			b = binary.BigEndian.AppendUint32(b, c.Gid)
			b = binary.BigEndian.AppendUint32(b, uint32(len(c.Groups)))
			for _, g := range c.Groups {
				b = binary.BigEndian.AppendUint32(b, g)
			}
		}
		b = appendStr(b, r.cmd.Path)
		b = appendStrs(b, r.cmd.Args)
		b = appendStrs(b, r.cmd.Env)
	case msgKill:
		b = binary.BigEndian.AppendUint32(b, r.pid)
	default:
		return nil, errMalformed
	}
	if len(b) > maxMsg {
		return nil, errors.New("command line and environment too long")
	}
	return b, nil
}

func (r reply) encode() []byte {
	b := []byte{r.kind}
	switch r.kind {
	case msgStarted:
		b = binary.BigEndian.AppendUint32(b, r.id)
		b = binary.BigEndian.AppendUint32(b, r.pid)
		b = binary.BigEndian.AppendUint32(b, uint32(r.errno))
		if len(r.err) > maxErr {
			r.err = r.err[:maxErr]
		}
		b = appendStr(b, r.err)
	case msgExited:
		b = binary.BigEndian.AppendUint32(b, r.pid)
		b = binary.BigEndian.AppendUint32(b, r.status)
	}
	return b
}

// decoder reads a message; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) u8() byte {
	if d.err != nil || len(d.b) < 1 {
		d.err = errMalformed
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) u32() uint32 {
	if d.err != nil || len(d.b) < 4 {
		d.err = errMalformed
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) str() string {
	n := d.u32()
	if d.err != nil || uint64(n) > uint64(len(d.b)) {
		d.err = errMalformed
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads a list's length, refusing one longer than what is left
// could hold at size bytes an element (no allocation from a forged count).
func (d *decoder) count(size int) int {
	n := d.u32()
	if d.err != nil || uint64(n)*uint64(size) > uint64(len(d.b)) {
		d.err = errMalformed
		return 0
	}
	return int(n)
}

func (d *decoder) strs() []string {
	n := d.count(4)
	ss := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		ss = append(ss, d.str())
	}
	return ss
}

// end fails unless the whole message was read.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errMalformed
	}
	return d.err
}

func decodeRequest(b []byte) (request, error) {
	d := &decoder{b: b}
	r := request{kind: d.u8()}
	switch r.kind {
	case msgStart:
		r.id = d.u32()
		flags := d.u8()
		if flags&^(flagCred|flagNNP) != 0 {
			return request{}, errMalformed
		}
		if flags&flagCred != 0 {
			c := &syscall.Credential{Uid: d.u32(), Gid: d.u32()}
			n := d.count(4)
			c.Groups = make([]uint32, 0, n)
			for i := 0; i < n && d.err == nil; i++ {
				c.Groups = append(c.Groups, d.u32())
			}
			r.cmd.Cred = c
		}
		r.cmd.NoNewPrivs = flags&flagNNP != 0
		r.cmd.Path = d.str()
		r.cmd.Args = d.strs()
		r.cmd.Env = d.strs()
	case msgKill:
		r.pid = d.u32()
	default:
		return request{}, errMalformed
	}
	if err := d.end(); err != nil {
		return request{}, err
	}
	return r, nil
}

func decodeReply(b []byte) (reply, error) {
	d := &decoder{b: b}
	r := reply{kind: d.u8()}
	switch r.kind {
	case msgStarted:
		r.id = d.u32()
		r.pid = d.u32()
		r.errno = syscall.Errno(d.u32())
		r.err = d.str()
		if len(r.err) > maxErr {
			return reply{}, errMalformed
		}
	case msgExited:
		r.pid = d.u32()
		r.status = d.u32()
	default:
		return reply{}, errMalformed
	}
	if err := d.end(); err != nil {
		return reply{}, err
	}
	return r, nil
}
