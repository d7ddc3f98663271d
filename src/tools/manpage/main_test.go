package main

import (
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	help := "usage: prog [options]\n       prog status\noptions:\n  -a, --all        every thing,\n                   on two lines\n      --long-one <x>\n                   described below it\n  .dot   a \\ backslash\nplain text line\n  indented prose without a gap\n\nsignals: HUP re-reads\nthe configuration.\n"
	var b strings.Builder
	page{name: "prog", section: "8", title: "a test", version: "1.2", desc: "One.\n\nTwo.", files: "/etc/p.conf: the file", see: "knock(1)"}.write(&b, help)
	got := b.String()
	for _, want := range []string{
		".TH PROG 8 \"\" \"knockd-go 1.2\" \"knockd-go\"\n.SH NAME\nprog \\- a test\n",
		".SH SYNOPSIS\n.nf\nprog [options]\nprog status\n.fi\n",
		".SH DESCRIPTION\n.PP\nOne.\n.PP\nTwo.\n",
		".SH OPTIONS\n.TP\n\\fB\\-a, \\-\\-all\\fR\nevery thing, on two lines\n",
		".TP\n\\fB\\-\\-long\\-one <x>\\fR\ndescribed below it\n",
		".TP\n\\fB\\&.dot\\fR\na \\e backslash\n",
		".PP\n.nf\nplain text line\nindented prose without a gap\n.fi\n",
		".SH SIGNALS\n.PP\nHUP re\\-reads the configuration.\n",
		".SH FILES\n.TP\n\\fI/etc/p.conf\\fR\nthe file\n.SH SEE ALSO\nknock(1)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing\n%s\nin\n%s", want, got)
		}
	}
}
