package errs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"
)

type codeErr struct{ code int }

func (e *codeErr) Error() string { return fmt.Sprint("code ", e.code) }

// asCode answers As with a *codeErr of its own code.
type asCode int

func (asCode) Error() string { return "as code" }

func (a asCode) As(target any) bool {
	p, ok := target.(**codeErr)
	if ok {
		*p = &codeErr{int(a)}
	}
	return ok
}

type notExister interface {
	error
	IsNotExist() bool
}

type missing struct{}

func (missing) Error() string    { return "missing" }
func (missing) IsNotExist() bool { return true }

func TestAsMatchesErrorsAs(t *testing.T) {
	c7 := &codeErr{7}
	tests := []struct {
		name string
		err  error
	}{
		{"nil", nil},
		{"plain", errors.New("x")},
		{"itself", c7},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", c7))},
		{"joined, second", errors.Join(errors.New("x"), fmt.Errorf("y: %w", c7))},
		{"joined, first wins", errors.Join(&codeErr{1}, c7)},
		{"multi %w", fmt.Errorf("%w and %w", errors.New("x"), c7)},
		{"As method", fmt.Errorf("w: %w", asCode(9))},
		{"path error", &fs.PathError{Op: "open", Path: "/x", Err: os.ErrNotExist}},
	}
	for _, tc := range tests {
		var want *codeErr
		wantOK := errors.As(tc.err, &want)
		got, ok := As[*codeErr](tc.err)
		same := got == want || got != nil && want != nil && *got == *want
		if ok != wantOK || !same {
			t.Errorf("%s: As = %v, %v; errors.As = %v, %v", tc.name, got, ok, want, wantOK)
		}
	}
}

func TestAsInterface(t *testing.T) {
	n, ok := As[notExister](fmt.Errorf("delete: %w", missing{}))
	if !ok || !n.IsNotExist() {
		t.Fatalf("As[notExister] = %v, %v", n, ok)
	}
	if _, ok := As[notExister](errors.New("x")); ok {
		t.Fatal("found a notExister in a plain error")
	}
	pe, ok := As[*fs.PathError](fmt.Errorf("w: %w", &fs.PathError{Op: "open", Path: "/p", Err: os.ErrNotExist}))
	if !ok || pe.Path != "/p" {
		t.Fatalf("As[*fs.PathError] = %v, %v", pe, ok)
	}
}
