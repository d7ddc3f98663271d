// Package logx is knockd-go's one logger. It writes knockd's log lines to
// its three sinks: syslog (ident knockd, facility user, level notice, no
// PID, like knockd 0.8), a log file with knockd's `[YYYY-MM-DD HH:MM]
// message` prefix, and standard output in verbose mode. Debug lines go to
// their own writer, only with -D.
//
// Lines an outsider can cause at will (knock progress, SPA rejections) go
// through a Limiter, which lets a burst through and then a few lines a
// second per key, with one line counting the rest.
package logx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Logger is safe for concurrent use. The zero value and nil discard
// everything.
type Logger struct {
	mu      sync.Mutex
	now     func() time.Time
	verbose io.Writer // nil unless -v
	debug   io.Writer // nil unless -D
	file    *os.File
	syslog  bool
	sysFD   int // -1: not connected
	sysPath string
	open    func(path string) (*os.File, error)

	// Lines of Deferf not written yet (the file sink's), at most
	// maxHeld bytes: written by Flush, the next Printf or Close.
	held []byte
	// The file's and syslog's timestamp prefixes, formatted once for
	// the minute (second) they stand for: a flood's lines share them.
	fileKey, sysKey int64
	filePre, sysPre []byte
	// msg is the message being written, formatted in place; sysLine the
	// syslog datagram: reused, so that a line costs no allocation.
	msg, sysLine []byte
	// The log file's descriptor, and what writeFile hands it, kept
	// with the function that writes it: no allocation a write.
	fileRC      syscall.RawConn
	fileOut     []byte
	fileWriteFn func(fd uintptr)
}

// maxHeld bounds the lines Deferf holds back: past it they are written.
const maxHeld = 4 << 10

// Options select the sinks.
type Options struct {
	Verbose io.Writer // knockd -v: messages to this writer
	Debug   io.Writer // knockd -D: debug messages to this writer
	Syslog  bool
	LogFile string
	Now     func() time.Time
	// SyslogPath is the syslog socket (default /dev/log).
	SyslogPath string
	// Open opens the log file for appending (OpenLogFile when nil; the
	// spawner's, for a daemon that runs as a user who may not open it).
	Open func(path string) (*os.File, error)
}

// New opens the sinks. A log file that cannot be opened is an error.
func New(o Options) (*Logger, error) {
	l := &Logger{now: o.Now, verbose: o.Verbose, debug: o.Debug, syslog: o.Syslog, sysPath: o.SyslogPath, sysFD: -1, open: o.Open}
	if l.now == nil {
		l.now = time.Now
	}
	if l.sysPath == "" {
		l.sysPath = "/dev/log"
	}
	if o.LogFile != "" {
		f, err := openLog(l.open, o.LogFile)
		if err != nil {
			return nil, err
		}
		l.setFile(f)
	}
	return l, nil
}

// Discard returns a logger without sinks.
func Discard() *Logger { return &Logger{now: time.Now, sysFD: -1} }

// OpenLogFile opens path for appending, creating it 0640. It refuses to
// follow a symbolic link (someone who can write the directory could
// otherwise point the log of a root daemon at any file).
func OpenLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o640)
	if err != nil {
		return nil, fmt.Errorf("log file %s: %w", path, unwrapPath(err))
	}
	return f, nil
}

// openLog opens the log file at path with open (nil: OpenLogFile), its
// error worded as OpenLogFile words it.
func openLog(open func(string) (*os.File, error), path string) (*os.File, error) {
	if open == nil {
		return OpenLogFile(path)
	}
	f, err := open(path)
	if err != nil {
		return nil, fmt.Errorf("log file %s: %w", path, unwrapPath(err))
	}
	return f, nil
}

// unwrapPath drops the *PathError wrapping (its text repeats the path)
// and names what ELOOP means here.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		if errors.Is(pe.Err, syscall.ELOOP) {
			return fmt.Errorf("is a symbolic link, refused")
		}
		return pe.Err
	}
	return err
}

// Reopen closes and re-opens the log file (after rotation, on SIGHUP),
// switching to path (which may be empty: no file) and the syslog setting.
// On error the logger keeps no file.
func (l *Logger) Reopen(path string, syslog bool) error {
	var f *os.File
	var err error
	if path != "" {
		f, err = openLog(l.open, path)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flush() // to the file they were meant for
	if l.file != nil {
		l.file.Close()
	}
	l.setFile(f)
	l.syslog = syslog
	return err
}

// Printf logs one message to every sink, after the lines Deferf held
// back.
func (l *Logger) Printf(format string, args ...any) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logf(time.Time{}, false, format, args)
}

// Deferf logs one message as Printf does, stamped with at (the time the
// packet it is about was read; zero: the logger's clock), but may hold
// the log file's line back until Flush: the lines a batch of packets
// causes are written to the file at once, in one write, when the batch
// has been handled. Syslog and verbose output get the line at once.
func (l *Logger) Deferf(at time.Time, format string, args ...any) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logf(at, true, format, args)
}

// DeferLine is Deferf for a message the caller has put together itself
// (one line, no trailing newline): the packet path's lines, which then
// cost neither formatting nor an allocation. msg is copied: the caller
// may reuse it once DeferLine returns.
func (l *Logger) DeferLine(at time.Time, msg []byte) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.verbose == nil && l.file == nil && !l.syslog {
		return
	}
	l.msg = append(l.msg[:0], msg...)
	l.line(at, true)
}

// Flush writes the lines Deferf held back.
func (l *Logger) Flush() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flush()
}

// logf formats and writes one message; held: the file's line may wait
// in l.held. l.mu is held.
func (l *Logger) logf(t time.Time, held bool, format string, args []any) {
	if l.verbose == nil && l.file == nil && !l.syslog {
		return // nowhere to write: neither format nor read the clock
	}
	l.msg = fmt.Appendf(l.msg[:0], format, args...)
	for len(l.msg) > 0 && l.msg[len(l.msg)-1] == '\n' {
		l.msg = l.msg[:len(l.msg)-1]
	}
	l.line(t, held)
}

// line writes the message in l.msg, stamped with t (zero: the logger's
// clock); held: the file's line may wait in l.held. l.mu is held.
func (l *Logger) line(t time.Time, held bool) {
	if t.IsZero() {
		t = l.now()
	}
	msg := l.msg
	if l.file != nil {
		l.held = append(append(append(l.held, l.filePrefix(t)...), msg...), '\n')
		if !held || len(l.held) >= maxHeld {
			l.flush()
		}
	}
	if l.syslog {
		l.sendSyslog(t, msg)
	}
	if l.verbose != nil {
		l.msg = append(msg, '\n')
		l.verbose.Write(l.msg)
	}
}

// flush writes l.held to the file. l.mu is held.
func (l *Logger) flush() {
	if len(l.held) == 0 {
		return
	}
	if l.file != nil {
		l.writeFile(l.held)
	}
	l.held = l.held[:0]
	if cap(l.held) > maxHeld*2 {
		l.held = nil
	}
}

// filePrefix returns the log file's "[YYYY-MM-DD HH:MM] " for t, formatted
// once a minute. l.mu is held.
func (l *Logger) filePrefix(t time.Time) []byte {
	if k := t.Unix() / 60; k != l.fileKey || l.filePre == nil {
		l.fileKey, l.filePre = k, []byte("["+t.Format("2006-01-02 15:04")+"] ")
	}
	return l.filePre
}

// Debugf logs a debug message (only with -D).
func (l *Logger) Debugf(format string, args ...any) {
	if l == nil || l.debug == nil {
		return
	}
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.debug, msg+"\n")
}

// Debugging reports whether debug output is on.
func (l *Logger) Debugging() bool { return l != nil && l.debug != nil }

// setFile makes f the log file (nil: none). l.mu is held, or l is new.
func (l *Logger) setFile(f *os.File) {
	l.file, l.fileRC = f, nil
	if f == nil {
		return
	}
	if rc, err := f.SyscallConn(); err == nil {
		l.fileRC = rc
	}
	if l.fileWriteFn == nil {
		l.fileWriteFn = l.writeOut
	}
}

// writeFile appends b to the log file. l.mu is held.
func (l *Logger) writeFile(b []byte) {
	if l.fileRC != nil {
		l.fileOut = b
		_ = l.fileRC.Control(l.fileWriteFn)
		l.fileOut = nil
	}
}

// writeOut writes l.fileOut to fd (the log file's, in RawConn.Control).
func (l *Logger) writeOut(fd uintptr) { _ = writeFD(int(fd), l.fileOut) }

// sendSyslog writes an RFC 3164 datagram: <13>Mmm dd hh:mm:ss knockd: msg
// (user.notice). It reconnects once if the socket went away (syslogd
// restart) and drops the message if that fails too.
func (l *Logger) sendSyslog(t time.Time, msg []byte) {
	if k := t.Unix(); k != l.sysKey || l.sysPre == nil {
		l.sysKey, l.sysPre = k, []byte("<13>"+t.Format(time.Stamp)+" knockd: ")
	}
	line := append(append(l.sysLine[:0], l.sysPre...), msg...)
	l.sysLine = line
	for try := 0; try < 2; try++ {
		if l.sysFD < 0 {
			fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				return
			}
			if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: l.sysPath}); err != nil {
				syscall.Close(fd)
				return
			}
			l.sysFD = fd
		}
		err := sendDontWait(l.sysFD, line)
		if err == nil || err == syscall.EAGAIN {
			// EAGAIN: syslogd is behind; the line is dropped rather
			// than stalling the capture loop behind it.
			return
		}
		syscall.Close(l.sysFD)
		l.sysFD = -1
	}
}

// Close closes the sinks.
func (l *Logger) Close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flush()
	if l.file != nil {
		l.file.Close()
		l.setFile(nil)
	}
	if l.sysFD >= 0 {
		syscall.Close(l.sysFD)
		l.sysFD = -1
	}
}
