// Package logx writes knockd's log lines to its three sinks: syslog (ident
// knockd, facility user, level notice, no PID, like knockd 0.8), a log file
// with knockd's `[YYYY-MM-DD HH:MM] message` prefix, and standard output in
// verbose mode. Debug lines go to standard output only with -D.
package logx

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// Logger is safe for concurrent use.
type Logger struct {
	mu      sync.Mutex
	now     func() time.Time
	verbose io.Writer // nil unless -v
	debug   io.Writer // nil unless -D
	file    *os.File
	path    string
	syslog  bool
	sysConn net.Conn
	sysPath string
}

// Options select the sinks.
type Options struct {
	Verbose io.Writer // knockd -v: messages to this writer
	Debug   io.Writer // knockd -D: debug messages to this writer
	Syslog  bool
	LogFile string
	Now     func() time.Time
	// SyslogPath is the syslog socket (default /dev/log).
	SyslogPath string
}

// New opens the sinks. A log file that cannot be opened is an error.
func New(o Options) (*Logger, error) {
	l := &Logger{now: o.Now, verbose: o.Verbose, debug: o.Debug, syslog: o.Syslog, sysPath: o.SyslogPath}
	if l.now == nil {
		l.now = time.Now
	}
	if l.sysPath == "" {
		l.sysPath = "/dev/log"
	}
	if o.LogFile != "" {
		if err := l.openFile(o.LogFile); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *Logger) openFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("log: cannot open logfile: %w", err)
	}
	l.file, l.path = f, path
	return nil
}

// Reopen closes and re-opens the log file (after rotation, on SIGHUP),
// switching to path (which may be empty: no file) and the syslog setting.
func (l *Logger) Reopen(path string, syslog bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		l.file.Close()
		l.file = nil
	}
	l.syslog = syslog
	if path == "" {
		l.path = ""
		return nil
	}
	return l.openFile(path)
}

// Printf logs one message to every sink.
func (l *Logger) Printf(format string, args ...any) {
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	if l.verbose != nil {
		fmt.Fprintln(l.verbose, msg)
	}
	if l.file != nil {
		fmt.Fprintf(l.file, "[%s] %s\n", t.Format("2006-01-02 15:04"), msg)
	}
	if l.syslog {
		l.sendSyslog(t, msg)
	}
}

// Debugf logs a debug message (only with -D).
func (l *Logger) Debugf(format string, args ...any) {
	if l.debug == nil {
		return
	}
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.debug, msg)
}

// Debugging reports whether debug output is on.
func (l *Logger) Debugging() bool { return l.debug != nil }

// sendSyslog writes an RFC 3164 datagram: <13>Mmm dd hh:mm:ss knockd: msg
// (user.notice). It reconnects once if the socket went away (syslogd
// restart) and drops the message if that fails too.
func (l *Logger) sendSyslog(t time.Time, msg string) {
	line := fmt.Sprintf("<13>%s knockd: %s", t.Format(time.Stamp), msg)
	for try := 0; try < 2; try++ {
		if l.sysConn == nil {
			c, err := net.Dial("unixgram", l.sysPath)
			if err != nil {
				return
			}
			l.sysConn = c
		}
		if _, err := l.sysConn.Write([]byte(line)); err == nil {
			return
		}
		l.sysConn.Close()
		l.sysConn = nil
	}
}

// Close closes the sinks.
func (l *Logger) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		l.file.Close()
		l.file = nil
	}
	if l.sysConn != nil {
		l.sysConn.Close()
		l.sysConn = nil
	}
}
