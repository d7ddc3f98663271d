package config

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/knockd-go/knockd-go/src/internal/uci"
)

// LoadUCI reads /etc/config/knockd (UCI syntax).
//
// Schema: one `config knockd` section with the global options (enabled,
// interface, use_syslog, logfile, pidfile, firewall, sendmail, mail_from,
// max_attempts, max_children), and one `config door '<name>'` per door
// whose options are the knockd.conf door directives in lower case
// (sequence, seq_timeout, tcpflags, start_command, ...), list options
// open, forward, wake and notify, and `enabled '0'` to turn one door off.
func LoadUCI(path string) (*Config, error) { return load(path, ParseUCI) }

// ParseUCI reads UCI syntax from r; name is used in errors.
func ParseUCI(name string, r io.Reader) (*Config, error) {
	uf, err := uci.Parse(name, r)
	if err != nil {
		return nil, err
	}
	c := &Config{File: name, Options: newOptions()}
	var errs []error
	doors := 0
	for _, s := range uf.Sections {
		switch s.Type {
		case "knockd", "options":
			for _, o := range s.Options {
				key := strings.ToUpper(o.Name)
				for _, v := range o.Values {
					warn, err := apply(optionDirectives, &c.Options, key, o.Name, v, true, "option in global section")
					if err != nil {
						errs = append(errs, &Error{File: name, Line: o.Line, Field: o.Name, Err: err})
						break
					}
					if warn {
						c.Warnings = append(c.Warnings, &Error{File: name, Line: o.Line, Field: o.Name, Err: errInlineComment})
					}
				}
			}
		case "door":
			dname := s.Name
			if s.Anonymous {
				dname = s.Ref()
			}
			d := newDoor(dname, name, s.Line)
			enabled, failed := true, false
			for _, o := range s.Options {
				key := strings.ToUpper(o.Name)
				if key == "ENABLED" {
					if enabled, err = ParseBool(o.Value()); err != nil {
						errs, failed = append(errs, &Error{File: name, Line: o.Line, Door: dname, Field: o.Name, Err: err}), true
					}
					continue
				}
				if e := doorDirectives.lookup(key, true); o.List && (e == nil || !e.list) {
					errs, failed = append(errs, &Error{File: name, Line: o.Line, Door: dname, Field: o.Name, Err: errors.New("is not a list option (use option, not list)")}), true
					continue
				}
				d.saw(key, o.Name, o.Line)
				for _, v := range o.Values {
					warn, err := apply(doorDirectives, d, key, o.Name, v, true, "option in door section")
					if err != nil {
						errs, failed = append(errs, &Error{File: name, Line: o.Line, Door: dname, Field: o.Name, Err: err}), true
						break
					}
					if warn {
						c.Warnings = append(c.Warnings, &Error{File: name, Line: o.Line, Door: dname, Field: o.Name, Err: errInlineComment})
					}
				}
			}
			if !enabled || failed {
				continue
			}
			if doors++; doors > maxDoors {
				errs = append(errs, &Error{File: name, Line: s.Line, Err: fmt.Errorf("more than %d doors", maxDoors)})
				return nil, Join(errs...)
			}
			if err := finishDoor(c, d); err != nil {
				errs = append(errs, err)
			}
		default:
			errs = append(errs, &Error{File: name, Line: s.Line, Err: fmt.Errorf("unknown section type %q (want knockd or door)", s.Type)})
		}
	}
	if len(errs) > 0 {
		return nil, Join(errs...)
	}
	if len(c.Doors) == 0 && c.Options.Enabled {
		return nil, &Error{File: name, Err: errors.New("no doors defined")}
	}
	return c, nil
}
