package main

import (
	"io"
	"strings"
	"testing"

	"github.com/knockd-go/knockd-go/src/internal/fwknoprc"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
)

// FuzzSPASettings: any rc stanza goes through the same value parsers as the
// flags without a panic, and errors name the file.
func FuzzSPASettings(f *testing.F) {
	f.Add(testRC, "router")
	f.Add(testRC, "passphrases")
	f.Add(testRC, "badnat")
	f.Add("[x]\nNAT_ACCESS ,\nFW_TIMEOUT -0\nACCESS ,\nALLOW_IP ::ffff:1.2.3.4\n", "x")
	f.Fuzz(func(t *testing.T, data, name string) {
		vars, err := fwknoprc.ParseRC("rc", []byte(data), name)
		if err != nil {
			return
		}
		c := &client{stdout: io.Discard, stderr: io.Discard}
		var s spaSettings
		if err := c.applyFile(&s, vars, true); err != nil && !strings.HasPrefix(err.Error(), "rc:") {
			t.Fatalf("error without the file: %v", err)
		}
	})
}

// FuzzSecretFile: a secret file parses into valid parameters or an error
// naming the file.
func FuzzSecretFile(f *testing.F) {
	f.Add("# door\n" + testSecret + "\n")
	f.Add(rotate.URI(rotate.Default([]byte("12345678901234567890")), "ssh", "host") + "\n")
	f.Add(testSecret + "\n" + testSecret)
	f.Add("otpauth:x\n")
	f.Fuzz(func(t *testing.T, data string) {
		p, _, err := parseSecretFile("s", []byte(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "s:") {
				t.Fatalf("error without the file: %v", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("invalid parameters %+v: %v", p, err)
		}
	})
}
