package feature

import "testing"

// TestMissing: the refusal names the tag, and the package that has the
// feature when the build is a packaging's variant (Fuller, set with -X).
func TestMissing(t *testing.T) {
	defer func(f string) { Fuller = f }(Fuller)
	for _, tc := range []struct {
		fuller, want string
	}{
		{"", "spa: not in this build (built with the tag knockd_nospa)"},
		{"knockd-go-full", "spa: not in this build (built with the tag knockd_nospa; the package knockd-go-full has it)"},
	} {
		Fuller = tc.fuller
		if got := Missing("spa", "knockd_nospa").Error(); got != tc.want {
			t.Errorf("Fuller %q: %q, want %q", tc.fuller, got, tc.want)
		}
	}
	if s := This(); s.SPA != SPA || s.Mail != Mail || s.Rotate != Rotate || s.Control != Control || s.Doctor != Doctor || s.Fuller != Fuller {
		t.Errorf("This() = %+v", s)
	}
}
