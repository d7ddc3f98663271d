//go:build linux && !knockd_nodoctor

package main

import (
	"fmt"
	"io"

	"github.com/knockd-go/knockd-go/src/internal/doctor"
	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/feature"
	"github.com/knockd-go/knockd-go/src/internal/mail"
)

// doctorCmd runs `knockd doctor [--json] [--mail ADDRESS]` on the
// configuration the daemon reads with the same flags; exit 1 when a
// problem is found.
func doctorCmd(f flags, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "knockd: usage: knockd [-c FILE | -u FILE] [-i DEV] doctor [--json] [--mail ADDRESS]\n")
		return 2
	}
	if f.r.Has(optMail) && !feature.Mail {
		fmt.Fprintf(stderr, "knockd: doctor --mail: %v\n", feature.Missing("mail", "knockd_nomail"))
		return 2
	}
	rep, set, err := runDoctor(f)
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		return 1
	}
	if feature.Mail && f.r.Has(optMail) {
		doctor.SendTestMail(rep, set, f.r.Last(optMail, ""), mailer(set))
	}
	if f.r.Has('j') {
		stdout.Write(append(rep.JSON(), '\n'))
	} else {
		fmt.Fprintf(stdout, "knockd doctor: %s\n%s", f.configPath(), rep.Text())
	}
	if rep.Problems() > 0 {
		return 1
	}
	return 0
}

// rpcdDoctor answers `ubus call knockd doctor`: the report as JSON; a
// configuration that does not compile is the one problem.
func rpcdDoctor(f flags, stdout io.Writer) int {
	rep, _, err := runDoctor(f)
	if err != nil {
		rep = &doctor.Report{Findings: []doctor.Finding{{Check: "configuration", Level: doctor.Problem, Text: err.Error(), Fix: "knockd -k -u " + f.configPath()}}}
	}
	stdout.Write(append(rep.JSON(), '\n'))
	return 0
}

func runDoctor(f flags) (*doctor.Report, *door.Set, error) {
	cfg, err := f.load()
	if err != nil {
		return nil, nil, err
	}
	set, err := door.Compile(cfg, f.env())
	if err != nil {
		return nil, nil, err
	}
	set.Options.ControlSocket = f.socket()
	return doctor.Run(doctor.Input{Set: set, Config: f.configPath()}, doctor.OS{}), set, nil
}

// mailer is the daemon's sendmail, run from this process.
func mailer(set *door.Set) mail.Mailer {
	m := &mail.Sendmail{Path: set.Options.Sendmail, Credential: set.SendmailUser}
	if set.Options.MailFrom.Addr != "" {
		m.Args = []string{"-f", set.Options.MailFrom.Addr}
	}
	return m
}
