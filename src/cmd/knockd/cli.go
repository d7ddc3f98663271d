//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/feature"
	"github.com/knockd-go/knockd-go/src/internal/getopt"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
)

// cliMain runs what is not the daemon — the subcommands (status, revoke,
// keygen, list, call), -k and --show-secret-uri — before main catches any
// signal: they keep the default handling, so TERM and INT stop them.
// ok is false when args ask for the daemon (or are wrong: run says so).
func cliMain(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	r, err := getopt.Parse(options, args)
	if err != nil || r.Has('h') || r.Has('V') {
		return 0, false
	}
	if len(r.Args) > 0 && isSubcommand(r.Args[0]) || r.Has('k') || r.Has(optShowURI) {
		return run(args, stdout, stderr, nil), true
	}
	return 0, false
}

// isSubcommand reports whether word names a subcommand.
func isSubcommand(word string) bool {
	switch word {
	case "status", "revoke", "keygen", "list", "call", "doctor":
		return true
	}
	return false
}

// printErrors prints each error of err on its own line.
func printErrors(w io.Writer, err error) {
	for _, e := range config.List(err) {
		fmt.Fprintf(w, "knockd: %v\n", e)
	}
}

// check is -k's report on a configuration that loads and compiles: its
// warnings (inline comments, programs that cannot run), then the verdict.
func check(f flags, cfg *config.Config, stdout, stderr io.Writer) int {
	warns := append(append([]error{}, cfg.Warnings...), config.ProgramWarnings(cfg, searchPath())...)
	for _, w := range warns {
		fmt.Fprintf(stderr, "knockd: warning: %v\n", w)
	}
	fmt.Fprintf(stdout, "%s: %d door(s), configuration OK", f.configPath(), len(cfg.Doors))
	if len(warns) > 0 {
		fmt.Fprintf(stdout, " (%d warning(s))", len(warns))
	}
	fmt.Fprintln(stdout)
	return 0
}

// searchPath is where the daemon's commands are looked for: its PATH
// (procd's and systemd's directories when it has none).
func searchPath() []string {
	if p := os.Getenv("PATH"); p != "" {
		return strings.Split(p, ":")
	}
	return config.DefaultPath
}

// showURI prints the URI of a rotating door.
func showURI(cfg *config.Config, name, host string, stdout, stderr io.Writer) int {
	if !feature.Rotate {
		fmt.Fprintf(stderr, "knockd: %v\n", feature.Missing("rotating knocks", "knockd_norotate"))
		return 2
	}
	for _, d := range cfg.Doors {
		if d.Name != name {
			continue
		}
		if d.Rotate == nil {
			fmt.Fprintf(stderr, "knockd: %s: door %q is not a rotating knock (no sequence_secret)\n", cfg.File, name)
			return 1
		}
		fmt.Fprintln(stdout, rotate.URI(*d.Rotate, name, host))
		return 0
	}
	fmt.Fprintf(stderr, "knockd: %s: no door %q%s\n", cfg.File, name, doorList(cfg))
	return 1
}
