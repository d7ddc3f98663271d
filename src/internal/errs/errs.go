// Package errs finds an error of a given type in an error tree without
// reflection.
//
// errors.As takes its target through an interface and checks it with
// internal/reflectlite, which puts about 20 KB of reflection code into a
// MIPS binary that otherwise has no use for it. As does the same walk with
// a type parameter, like errors.AsType of Go 1.26, which knockd cannot use
// while it builds with Go 1.23.
package errs

// As finds the first error in err's tree that is an E and returns it. The
// tree is walked as errors.As walks it: err itself, then depth first
// through Unwrap() error or Unwrap() []error. An error with a method
// As(any) bool is asked too, with a *E.
func As[E error](err error) (E, bool) {
	var zero E
	for err != nil {
		if e, ok := err.(E); ok {
			return e, true
		}
		if x, ok := err.(interface{ As(any) bool }); ok {
			var e E
			if x.As(&e) {
				return e, true
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				if e, ok := As[E](inner); ok {
					return e, true
				}
			}
			return zero, false
		default:
			return zero, false
		}
	}
	return zero, false
}
