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
//	knockd_nodoctor   knockd doctor (src/cmd/knockd/doctor_omit.go)
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
	if Fuller != "" {
		return e.Feature + ": not in this build (built with the tag " + e.Tag + "; the package " + Fuller + " has it)"
	}
	return e.Feature + ": not in this build (built with the tag " + e.Tag + ")"
}

// Fuller names the package to install instead for the features a build
// leaves out, when the build is one of a packaging's variants: OpenWrt's
// knockd-go is built without SPA, rotating knocks and the doctor, and
// knockd-go-full has them (-ldflags "-X .../feature.Fuller=knockd-go-full",
// scripts/cross.sh and the feed Makefile). Empty: no such package.
var Fuller string

// Set is every feature, and whether this build has it: what rpcd's
// "features" method answers (LuCI shows only what the daemon can do).
type Set struct {
	SPA, Mail, Rotate, Control, Doctor bool
	Fuller                             string
}

// This returns this build's features.
func This() Set {
	return Set{SPA: SPA, Mail: Mail, Rotate: Rotate, Control: Control, Doctor: Doctor, Fuller: Fuller}
}

// Missing returns the refusal of feature, left out by tag.
func Missing(feature, tag string) error { return &Error{Feature: feature, Tag: tag} }
