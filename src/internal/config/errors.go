package config

import (
	"strings"
)

// Errors is every error found in one configuration, in the order found
// (line order within a file). Its text has one error a line.
type Errors []error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (es Errors) Unwrap() []error { return es }

// Join returns nil for no errors, the error itself for one, else Errors;
// nested Errors are flattened.
func Join(errs ...error) error {
	var out Errors
	for _, e := range errs {
		out = append(out, List(e)...)
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

// List returns the errors err holds: the items of an Errors, else err
// itself (none for nil).
func List(err error) []error {
	if err == nil {
		return nil
	}
	if es, ok := err.(Errors); ok {
		var out []error
		for _, e := range es {
			out = append(out, List(e)...)
		}
		return out
	}
	return []error{err}
}

// suggest returns the directive of names nearest to name (case ignored),
// or "" when none is near: at most a third of the name's letters differ.
func suggest(name string, names []string) string {
	name = strings.ToLower(name)
	best, bestD := "", len(name)/3+1
	for _, n := range names {
		if d := distance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b, an adjacent
// transposition counting as one edit.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20 // no directive is that long
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
