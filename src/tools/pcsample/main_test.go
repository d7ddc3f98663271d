package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestProgramCounter(t *testing.T) {
	for _, tt := range []struct {
		text string
		pc   uint64
		ok   bool
	}{
		{"info registers\r\npc=0x81b23f40 HI=0x00000000 LO=0x00000003 ds 00ea B0x00000000\r\nGPR00: r0 00000000\r\n(qemu) ", 0x81b23f40, true},
		{"info registers\r\nR00=00000000 R01=c0f0d4a0 R02=00000000 R03=c010b4c0\r\nR12=00000000 R13=c0e01f48 R14=c0108b3c R15=c0108b44\r\n(qemu) ", 0xc0108b44, true},
		{"info registers\r\nError: no CPU\r\n(qemu) ", 0, false},
	} {
		pc, ok := programCounter([]byte(tt.text))
		if pc != tt.pc || ok != tt.ok {
			t.Errorf("programCounter(%q) = %#x, %v, want %#x, %v", tt.text, pc, ok, tt.pc, tt.ok)
		}
	}
}

const kallsyms = `818e0400 T _stext
818e0500 t handle_int
81b23f40 T __r4k_wait
81b23f80 T r4k_wait_irqoff
81b24000 d some_data
81c00000 T do_epoll_wait
00000000 T hidden
`

func TestKallsyms(t *testing.T) {
	k, err := readKallsyms(strings.NewReader(kallsyms))
	if err != nil {
		t.Fatal(err)
	}
	for pc, want := range map[uint64]string{0x818e0400: "_stext", 0x818e0504: "handle_int", 0x81b23f40: "__r4k_wait",
		0x81b24010: "r4k_wait_irqoff", 0x81c00040: "do_epoll_wait", 0x800000: ""} {
		if got := k.lookup(pc); got != want {
			t.Errorf("lookup(%#x) = %q, want %q", pc, got, want)
		}
	}
	if _, err := readKallsyms(strings.NewReader("00000000 T _stext\n00000000 T hidden\n")); err == nil {
		t.Error("hidden addresses (a reader who is not root) were accepted")
	}
}

// TestReport: samples in the kernel's idle wait, in other kernel
// functions, in a Go program (this test, named by its line table) and
// elsewhere are counted apart.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	ks := filepath.Join(dir, "kallsyms")
	os.WriteFile(ks, []byte(kallsyms), 0o600)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pc := reflect.ValueOf(TestReport).Pointer()
	var in bytes.Buffer
	for range 3 {
		fmt.Fprintf(&in, "81b23f44\n")
	}
	fmt.Fprintf(&in, "81c00010\n%x\n%x\nbadline\n77c539c4\n", pc, pc+4)
	var out bytes.Buffer
	if err := report(ks, self, "5", &in, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"7 samples:", "42.9 %      3  idle", "14.3 %      1  kernel", "28.6 %      2  " + self, "14.3 %      1  other programs",
		"100.0 %      1  do_epoll_wait", "100.0 %      2  github.com/knockd-go/knockd-go/src/tools/pcsample.TestReport"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
}
