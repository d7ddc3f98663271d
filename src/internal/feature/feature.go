// Package feature says which of knockd's optional features this build
// has. Each is a constant set by a build tag (in the style of tailscale's
// ts_omit_*), so that the compiler drops the code a missing feature's
// guard leaves unreachable and the linker then drops its packages: a
// router with 8 MB of flash can have a smaller knockd (docs/size.md).
//
//	tag               leaves out
//	knockd_nospa      fwknop SPA doors (spa = yes)
//	knockd_nomail     mail to the admin (notify, sendmail)
//	knockd_norotate   rotating knocks (sequence_secret)
//	knockd_nocontrol  the control socket and what talks to it: knockd
//	                  status and revoke, rpcd's plugin (LuCI)
//
// (knockd_nodoctor, which leaves out knockd doctor, is a subcommand's
// and needs no constant: src/cmd/knockd/doctor_omit.go.)
//
// A configuration that asks for a missing feature is refused where it
// asks, naming the tag (Missing). The tags are the daemon's (go build
// -tags ... ./src/cmd/knockd); the client, src/cmd/knock, always has SPA
// and rotating knocks. With all of them no package of knockd imports
// crypto: the SPA, keygen and rotating code that needs it sits in files
// the tags leave out (src/internal/spa, src/internal/rotate).
package feature

// Error is the refusal of a feature this build does not have.
type Error struct {
	Feature string // what the user asked for, as they name it
	Tag     string // the build tag that left it out
}

func (e *Error) Error() string {
	return e.Feature + ": not in this build (built with the tag " + e.Tag + ")"
}

// Missing returns the refusal of feature, left out by tag.
func Missing(feature, tag string) error { return &Error{Feature: feature, Tag: tag} }
