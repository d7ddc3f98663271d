package spawn

import (
	"encoding/binary"
	"errors"
	"syscall"
)

// The protocol between the daemon and the spawner: one message per
// SOCK_SEQPACKET packet, big-endian integers, strings prefixed with
// their length. The daemon names what it wants — a door, an address, a
// kind of request — never a program, an argument, an environment or a
// user: the spawner builds those from the configuration it read itself
// (see Policy).
//
// Daemon to spawner:
//
//	'S' id:u32 kind:u8 door:str addr:str cmd:str
//	    with stdin, stdout and stderr as SCM_RIGHTS (used for mail only)
//	'K' pid:u32                          SIGKILL to the process group of a child
//	'R' id:u32                           read the configuration again
//	'F' id:u32 op:u8 path:str            open a file the configuration names
//	                                     (see FileOp), for the daemon
//
// Spawner to daemon:
//
//	'P' id:u32 pid:u32 errno:u32 err:str  the child of request id started (pid) or not (err)
//	'X' pid:u32 status:u32                a child exited (its wait status)
//	'L' id:u32 errno:u32 err:str          the reload or file of request id (err: why
//	                                      it failed), with the file as SCM_RIGHTS
//	                                      (none for FileOps that open nothing)
//	'N' text:str                          a line for the daemon's log
//
// where str is len:u32 bytes.
const (
	msgStart   = 'S'
	msgKill    = 'K'
	msgReload  = 'R'
	msgFile    = 'F'
	msgStarted = 'P'
	msgExited  = 'X'
	msgLoaded  = 'L'
	msgNote    = 'N'

	// maxMsg bounds a message.
	maxMsg = 8 << 10
	// maxErr bounds the error text of a reply.
	maxErr = 1024
)

var errMalformed = errors.New("malformed message")

// request is a message to the spawner.
type request struct {
	kind byte
	id   uint32  // msgStart, msgReload, msgFile
	pid  uint32  // msgKill
	req  Request // msgStart
	op   FileOp  // msgFile
	path string  // msgFile
}

// reply is a message from the spawner.
type reply struct {
	kind   byte
	id     uint32        // msgStarted, msgLoaded
	pid    uint32        // msgStarted, msgExited
	errno  syscall.Errno // msgStarted, msgLoaded: the error number, if any
	err    string        // msgStarted, msgLoaded: why it failed; msgNote: the line
	status uint32        // msgExited
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func (r request) encode() ([]byte, error) {
	b := []byte{r.kind}
	switch r.kind {
	case msgStart:
		b = binary.BigEndian.AppendUint32(b, r.id)
		b = append(b, byte(r.req.Kind))
		b = appendStr(b, r.req.Door)
		b = appendStr(b, r.req.Addr)
		b = appendStr(b, r.req.Command)
	case msgKill:
		b = binary.BigEndian.AppendUint32(b, r.pid)
	case msgReload:
		b = binary.BigEndian.AppendUint32(b, r.id)
	case msgFile:
		b = binary.BigEndian.AppendUint32(b, r.id)
		b = append(b, byte(r.op))
		b = appendStr(b, r.path)
	default:
		return nil, errMalformed
	}
	if len(b) > maxMsg {
		return nil, errors.New("request too long")
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
		b = appendStr(b, truncate(r.err))
	case msgExited:
		b = binary.BigEndian.AppendUint32(b, r.pid)
		b = binary.BigEndian.AppendUint32(b, r.status)
	case msgLoaded:
		b = binary.BigEndian.AppendUint32(b, r.id)
		b = binary.BigEndian.AppendUint32(b, uint32(r.errno))
		b = appendStr(b, truncate(r.err))
	case msgNote:
		b = appendStr(b, truncate(r.err))
	}
	return b
}

func truncate(s string) string {
	if len(s) > maxErr {
		return s[:maxErr]
	}
	return s
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
		r.req.Kind = Kind(d.u8())
		r.req.Door = d.str()
		r.req.Addr = d.str()
		r.req.Command = d.str()
		if r.req.Kind == 0 || r.req.Kind > lastKind {
			return request{}, errMalformed
		}
	case msgKill:
		r.pid = d.u32()
	case msgReload:
		r.id = d.u32()
	case msgFile:
		r.id = d.u32()
		r.op = FileOp(d.u8())
		r.path = d.str()
		if r.op == 0 || r.op > lastFileOp {
			return request{}, errMalformed
		}
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
	case msgExited:
		r.pid = d.u32()
		r.status = d.u32()
	case msgLoaded:
		r.id = d.u32()
		r.errno = syscall.Errno(d.u32())
		r.err = d.str()
	case msgNote:
		r.err = d.str()
	default:
		return reply{}, errMalformed
	}
	if len(r.err) > maxErr {
		return reply{}, errMalformed
	}
	if err := d.end(); err != nil {
		return reply{}, err
	}
	return r, nil
}
