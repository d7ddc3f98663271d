//go:build !linux

package privs

// NoRootEnv is the environment variable that makes NoRootMain act.
const NoRootEnv = "KNOCKD_GO_NOROOT=1"

// NoRootCmd returns path and argv: the trampoline is Linux's.
func NoRootCmd(path string, argv []string) (string, []string) { return path, argv }

// NoRootMain does nothing (capabilities are Linux's).
func NoRootMain() {}

// NoRootReady reports false: there is no trampoline.
func NoRootReady() bool { return false }

// Rename does nothing (the name of a process executed again is Linux's).
func Rename() {}
