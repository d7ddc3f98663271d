//go:build knockd_profile

package tune

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"time"
)

// A benchmark's build (-tags knockd_profile) profiles the daemon:
// KNOCKD_GO_CPUPROFILE names the file of a CPU profile, which starts after
// KNOCKD_GO_PROFILE_DELAY seconds (default 0) and lasts
// KNOCKD_GO_PROFILE_SECS (default 60); a heap profile is written beside it
// (FILE.heap) at its end. Release builds do not have this.
func init() {
	profile = func() {
		path := os.Getenv("KNOCKD_GO_CPUPROFILE")
		if path == "" {
			return
		}
		delay := envSeconds("KNOCKD_GO_PROFILE_DELAY", 0)
		secs := envSeconds("KNOCKD_GO_PROFILE_SECS", 60)
		time.AfterFunc(delay, func() {
			f, err := os.Create(path)
			if err != nil {
				fmt.Fprintln(os.Stderr, "knockd: cpu profile:", err)
				return
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, "knockd: cpu profile:", err)
				f.Close()
				return
			}
			time.AfterFunc(secs, func() {
				pprof.StopCPUProfile()
				f.Close()
				if h, err := os.Create(path + ".heap"); err == nil {
					_ = pprof.Lookup("heap").WriteTo(h, 0)
					h.Close()
				}
				fmt.Fprintln(os.Stderr, "knockd: profiles written:", path)
			})
		})
	}
}

func envSeconds(name string, def int) time.Duration {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	return time.Duration(def) * time.Second
}
