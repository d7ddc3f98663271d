// Package getopt parses command lines the way knockd's and knock's getopt
// does: short flags that may be grouped (-vD), arguments attached or
// separate (-ieth0, -i eth0), long forms (--interface=eth0, --interface
// eth0), and "--" ending the options.
package getopt

import (
	"fmt"
	"strings"
)

// Option describes one flag.
type Option struct {
	_      [0]func() // not comparable: no equality function in the binary
	Short  byte      // e.g. 'i'
	Long   string    // e.g. "interface"
	HasArg bool
}

// Result is a parsed command line.
type Result struct {
	Values map[byte][]string // per short flag, its arguments ("" for flags without one)
	Args   []string          // operands
}

// Has reports whether flag c was given.
func (r *Result) Has(c byte) bool { _, ok := r.Values[c]; return ok }

// Last returns the last argument given to flag c, or def.
func (r *Result) Last(c byte, def string) string {
	if v := r.Values[c]; len(v) > 0 {
		return v[len(v)-1]
	}
	return def
}

// Parse parses args (without the program name).
func Parse(opts []Option, args []string) (*Result, error) {
	r := &Result{Values: map[byte][]string{}}
	short := map[byte]Option{}
	long := map[string]Option{}
	for _, o := range opts {
		short[o.Short] = o
		if o.Long != "" {
			long[o.Long] = o
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			r.Args = append(r.Args, args[i+1:]...)
			return r, nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			o, ok := long[name]
			if !ok {
				return nil, fmt.Errorf("unknown option --%s", name)
			}
			if o.HasArg && !hasVal {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("option --%s needs an argument", name)
				}
				i++
				val = args[i]
			} else if !o.HasArg && hasVal {
				return nil, fmt.Errorf("option --%s takes no argument", name)
			}
			r.Values[o.Short] = append(r.Values[o.Short], val)
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				o, ok := short[a[j]]
				if !ok {
					return nil, fmt.Errorf("unknown option -%c", a[j])
				}
				if !o.HasArg {
					r.Values[o.Short] = append(r.Values[o.Short], "")
					continue
				}
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return nil, fmt.Errorf("option -%c needs an argument", a[j])
					}
					i++
					val = args[i]
				}
				r.Values[o.Short] = append(r.Values[o.Short], val)
				break
			}
		default:
			r.Args = append(r.Args, a)
		}
	}
	return r, nil
}
