// Command pcsample is a sampling profiler of a whole qemu-system guest
// (scripts/router-box/pcprof.sh): it asks QEMU's monitor for the guest
// CPU's registers at a steady rate and keeps the program counter, then
// says where the samples fell: the kernel's idle wait, the kernel's other
// functions (from the guest's /proc/kallsyms), and the functions of a Go
// program (from its own line table, through go tool addr2line), or other
// user programs. Go's own CPU profile is no use in the guest: at 20 first
// knocks a second it caught 250 ms of the 6.6 s of CPU time the daemon's
// threads used.
//
//	pcsample sample SOCKET SECS HZ    print a program counter a line (hex)
//	pcsample report KALLSYMS GOBIN LIMIT [FILE]
//	                                  the samples of FILE (standard input
//	                                  without it) by place, then the LIMIT
//	                                  most frequent functions of each
//
// Standard library only.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "sample":
		if len(os.Args) != 5 {
			usage()
		}
		err = sample(os.Args[2], os.Args[3], os.Args[4], os.Stdout)
	case "report":
		if len(os.Args) != 5 && len(os.Args) != 6 {
			usage()
		}
		in := io.Reader(os.Stdin)
		if len(os.Args) == 6 {
			f, ferr := os.Open(os.Args[5])
			if ferr != nil {
				fail(ferr)
			}
			defer f.Close()
			in = f
		}
		err = report(os.Args[2], os.Args[3], os.Args[4], in, os.Stdout)
	default:
		usage()
	}
	if err != nil {
		fail(err)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: pcsample sample SOCKET SECS HZ | report KALLSYMS GOBIN LIMIT [FILE]")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pcsample:", err)
	os.Exit(1)
}

// sample asks the monitor on socket for the registers hz times a second
// for secs seconds and prints each program counter.
func sample(socket, secsArg, hzArg string, out io.Writer) error {
	secs, err := strconv.ParseFloat(secsArg, 64)
	if err != nil || secs <= 0 || secs > 3600 {
		return fmt.Errorf("SECS %q: want a number of seconds up to 3600", secsArg)
	}
	hz, err := strconv.Atoi(hzArg)
	if err != nil || hz <= 0 || hz > 2000 {
		return fmt.Errorf("HZ %q: want 1 to 2000", hzArg)
	}
	c, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := untilPrompt(c, r); err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	defer w.Flush()
	every := time.Second / time.Duration(hz)
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	for next := time.Now(); time.Now().Before(end); {
		if _, err := io.WriteString(c, "info registers\n"); err != nil {
			return err
		}
		text, err := untilPrompt(c, r)
		if err != nil {
			return err
		}
		if pc, ok := programCounter(text); ok {
			fmt.Fprintf(w, "%x\n", pc)
		}
		next = next.Add(every)
		time.Sleep(time.Until(next))
	}
	return nil
}

// untilPrompt reads the monitor's output up to its next "(qemu) " prompt,
// 10 s at most.
func untilPrompt(c net.Conn, r *bufio.Reader) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b []byte
	for !bytes.HasSuffix(b, []byte("(qemu) ")) {
		x, err := r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("the monitor: %w", err)
		}
		b = append(b, x)
	}
	return b, nil
}

var (
	pcRE  = regexp.MustCompile(`(?i)\bpc\s*[=:]\s*(?:0x)?([0-9a-f]+)`)
	r15RE = regexp.MustCompile(`R15=([0-9a-f]+)`)
)

// programCounter finds the program counter in the output of "info
// registers" (MIPS: "pc=0x...", ARM: "R15=..." in the first line).
func programCounter(text []byte) (uint64, bool) {
	m := pcRE.FindSubmatch(text)
	if m == nil {
		m = r15RE.FindSubmatch(text)
		if m == nil {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(string(m[1]), 16, 64)
	return v, err == nil
}

// kernel is the guest kernel's text symbols, by address.
type kernel struct {
	addr []uint64
	name []string
}

// readKallsyms reads /proc/kallsyms lines ("ADDR TYPE NAME [module]"),
// keeping the text symbols.
func readKallsyms(r io.Reader) (*kernel, error) {
	type sym struct {
		a uint64
		n string
	}
	var syms []sym
	s := bufio.NewScanner(r)
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 3 || !strings.ContainsAny(f[1], "tTwW") {
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil || a == 0 {
			continue
		}
		syms = append(syms, sym{a, f[2]})
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	if len(syms) == 0 {
		return nil, fmt.Errorf("no text symbols (are the addresses hidden? read /proc/kallsyms as root)")
	}
	sort.Slice(syms, func(i, j int) bool { return syms[i].a < syms[j].a })
	k := &kernel{}
	for _, s := range syms {
		k.addr = append(k.addr, s.a)
		k.name = append(k.name, s.n)
	}
	return k, nil
}

// lookup names the kernel function holding pc ("" below the first).
func (k *kernel) lookup(pc uint64) string {
	i := sort.Search(len(k.addr), func(i int) bool { return k.addr[i] > pc }) - 1
	if i < 0 {
		return ""
	}
	return k.name[i]
}

// start is where the kernel's text begins: a sample at or above it is the
// kernel's.
func (k *kernel) start() uint64 { return k.addr[0] }

// idle reports whether fn is the kernel's idle wait (the CPU had nothing
// to run).
func idle(fn string) bool {
	switch fn {
	case "__r4k_wait", "r4k_wait", "r4k_wait_irqoff", "cpu_v7_do_idle", "arch_cpu_idle", "default_idle_call", "cpu_do_idle":
		return true
	}
	return false
}

// count is a name and how many samples it had.
type count struct {
	name string
	n    int
}

func sorted(m map[string]int) []count {
	var c []count
	for k, v := range m {
		c = append(c, count{k, v})
	}
	sort.Slice(c, func(i, j int) bool { return c[i].n > c[j].n || c[i].n == c[j].n && c[i].name < c[j].name })
	return c
}

// report reads program counters from in and prints where they fell.
func report(kallsyms, gobin, limitArg string, in io.Reader, out io.Writer) error {
	limit, err := strconv.Atoi(limitArg)
	if err != nil || limit < 0 {
		return fmt.Errorf("LIMIT %q: want a number", limitArg)
	}
	kf, err := os.Open(kallsyms)
	if err != nil {
		return err
	}
	k, err := readKallsyms(kf)
	kf.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", kallsyms, err)
	}
	textEnd, err := goTextEnd(gobin)
	if err != nil {
		return err
	}
	kern, user := map[string]int{}, map[uint64]int{}
	var total, idles, others int
	s := bufio.NewScanner(in)
	for s.Scan() {
		pc, err := strconv.ParseUint(strings.TrimSpace(s.Text()), 16, 64)
		if err != nil {
			continue
		}
		total++
		switch {
		case pc >= k.start():
			fn := k.lookup(pc)
			if idle(fn) {
				idles++
			} else {
				kern[fn]++
			}
		case pc < textEnd:
			user[pc]++
		default:
			others++
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	if total == 0 {
		return fmt.Errorf("no samples")
	}
	funcs, err := goFuncs(gobin, user)
	if err != nil {
		return err
	}
	var kn, gn int
	for _, v := range kern {
		kn += v
	}
	for _, v := range funcs {
		gn += v
	}
	pct := func(n int) string { return fmt.Sprintf("%5.1f %%", 100*float64(n)/float64(total)) }
	fmt.Fprintf(out, "%d samples:\n", total)
	fmt.Fprintf(out, "  %s %6d  idle (the kernel's wait)\n", pct(idles), idles)
	fmt.Fprintf(out, "  %s %6d  kernel\n", pct(kn), kn)
	fmt.Fprintf(out, "  %s %6d  %s (its program and every process running it)\n", pct(gn), gn, gobin)
	fmt.Fprintf(out, "  %s %6d  other programs and libraries\n", pct(others), others)
	for _, part := range []struct {
		title string
		m     map[string]int
		n     int
	}{{"kernel", kern, kn}, {gobin, funcs, gn}} {
		fmt.Fprintf(out, "%s, the most frequent functions (share of its samples):\n", part.title)
		for i, c := range sorted(part.m) {
			if i == limit {
				break
			}
			fmt.Fprintf(out, "  %5.1f %% %6d  %s\n", 100*float64(c.n)/float64(part.n), c.n, c.name)
		}
	}
	return nil
}

// goTextEnd returns the end of the Go program's text segment: below it a
// sample is in that program (or in a process of another program mapped
// at the same low addresses; the busybox of the router box is higher).
func goTextEnd(bin string) (uint64, error) {
	out, err := exec.Command("go", "tool", "nm", "-size", "-sort", "address", bin).Output()
	if err == nil {
		var end uint64
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			if len(f) >= 3 && (f[2] == "T" || f[2] == "t") {
				a, _ := strconv.ParseUint(f[0], 16, 64)
				n, _ := strconv.ParseUint(f[1], 10, 64)
				end = max(end, a+n)
			}
		}
		if end > 0 {
			return end, nil
		}
	}
	// A stripped program has no symbol table: its ELF text segment.
	return elfTextEnd(bin)
}

// goFuncs names the function of each program counter in the Go program
// bin, from its line table (which stripping keeps).
func goFuncs(bin string, pcs map[uint64]int) (map[string]int, error) {
	funcs := map[string]int{}
	if len(pcs) == 0 {
		return funcs, nil
	}
	var addrs []uint64
	var in strings.Builder
	for pc := range pcs {
		addrs = append(addrs, pc)
		fmt.Fprintf(&in, "%#x\n", pc)
	}
	cmd := exec.Command("go", "tool", "addr2line", bin)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go tool addr2line %s: %w", bin, err)
	}
	lines := strings.Split(string(out), "\n")
	for i, pc := range addrs {
		name := "?"
		if 2*i < len(lines) && lines[2*i] != "" {
			name = lines[2*i]
		}
		funcs[name] += pcs[pc]
	}
	return funcs, nil
}
