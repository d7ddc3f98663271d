// Package version holds the version string embedded at build time with
// -ldflags "-X github.com/knockd-go/knockd-go/src/internal/version.Version=…".
package version

// Version is the release of knockd-go this binary was built from.
var Version = "0.1.0-dev"
