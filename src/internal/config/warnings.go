package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// errInlineComment is the warning of a value holding white space then '#'.
var errInlineComment = errors.New(`the value holds " #": inline comments are not supported (knockd 0.8 does not take them either): put the comment on its own line`)

// inlineComment reports whether val holds white space followed by '#'.
func inlineComment(val string) bool {
	for i := 1; i < len(val); i++ {
		if val[i] == '#' && (val[i-1] == ' ' || val[i-1] == '\t') {
			return true
		}
	}
	return false
}

// commentHint adds the inline-comment advice to err when val holds one.
func commentHint(err error, val string) error {
	if err == nil || !inlineComment(val) {
		return err
	}
	return fmt.Errorf("%w (inline comments are not supported: put the comment on its own line)", err)
}

// ProgramWarnings checks the programs the configuration names: the
// sendmail program when a door mails, and the first word of each door's commands (when it
// is a plain word, not a shell built-in). A missing or not executable
// program is reported with the place of its directive. path is the
// search path of commands given without a directory.
func ProgramWarnings(c *Config, path []string) []error {
	var out []error
	mails := false
	for _, d := range c.Doors {
		mails = mails || len(d.Notify) > 0
	}
	if p := c.Options.Sendmail; p != "" && mails {
		if err := executable(p); err != nil {
			out = append(out, &Error{File: c.File, Field: "sendmail", Err: err})
		}
	}
	for _, d := range c.Doors {
		for _, cmd := range []struct {
			key, line string
		}{{"START_COMMAND", d.StartCommand}, {"START_COMMAND_6", d.StartCommand6}, {"STOP_COMMAND", d.StopCommand}, {"STOP_COMMAND_6", d.StopCommand6}} {
			prog := program(cmd.line)
			if prog == "" {
				continue
			}
			var err error
			if strings.Contains(prog, "/") {
				err = executable(prog)
			} else if _, err = lookPath(prog, path); err != nil {
				err = fmt.Errorf("program %q: not found in %s", prog, strings.Join(path, ":"))
			}
			if err != nil {
				w := d.Where(cmd.key)
				out = append(out, &Error{File: d.File, Line: w.Line, Door: d.Name, Field: w.Name, Err: err})
			}
		}
	}
	return out
}

// DefaultPath is where commands without a directory are looked for: the
// daemon's PATH as OpenWrt's procd and systemd set it.
var DefaultPath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// program is the program a shell command line runs first, or "" when
// that is not a plain word (variables, quotes, assignments, built-ins).
func program(line string) string {
	f := strings.Fields(line)
	if len(f) == 0 {
		return ""
	}
	w := f[0]
	if strings.ContainsAny(w, "$`'\"\\=;&|<>(){}*?[%~") {
		return ""
	}
	switch w {
	case ".", ":", "alias", "break", "cd", "command", "continue", "echo", "eval", "exec", "exit", "export",
		"false", "for", "if", "case", "while", "until", "local", "printf", "read", "readonly", "return",
		"set", "shift", "test", "times", "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "wait", "!":
		return ""
	}
	return w
}

// executable reports why path is not a program that can run.
func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("program %q does not exist", path)
		}
		return fmt.Errorf("program %q: %w", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("program %q is not executable", path)
	}
	return nil
}

func lookPath(prog string, path []string) (string, error) {
	for _, dir := range path {
		p := filepath.Join(dir, prog)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}
