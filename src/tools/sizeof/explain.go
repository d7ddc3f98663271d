package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// explain prints the chain that made the linker keep the first symbol
// matching pattern, from a `go build -ldflags=-dumpdep` listing.
func explain(w io.Writer, pattern, dumpdep string) error {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return err
	}
	fh, err := os.Open(dumpdep)
	if err != nil {
		return err
	}
	defer fh.Close()
	parent := map[string]string{}
	var order []string
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		from, to, ok := cutEdge(sc.Text())
		if !ok {
			continue
		}
		if _, seen := parent[to]; !seen {
			parent[to] = from
			order = append(order, to)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(order) == 0 {
		return fmt.Errorf("%s: no \"a -> b\" lines (build with -ldflags=-dumpdep, keep stderr)", dumpdep)
	}
	for _, sym := range order {
		if !re.MatchString(sym) {
			continue
		}
		var chain []string
		for s, guard := sym, 0; s != "_" && s != "" && guard < 10000; guard++ {
			chain = append(chain, s)
			s = parent[s]
		}
		for i := len(chain) - 1; i >= 0; i-- {
			fmt.Fprintf(w, "%*s%s\n", 2*(len(chain)-1-i), "", chain[i])
		}
		return nil
	}
	return fmt.Errorf("no reachable symbol matches %q", pattern)
}

// linked is what -build learns besides the binary: each reachable
// symbol's parent (from -dumpdep) and the data symbols of the object files.
type linked struct {
	parent map[string]string
	objs   map[string]objSym
}

type objSym struct {
	size    int64
	section string // ELF section the linker puts it in
}

func (l *linked) reachable(name string) bool {
	_, ok := l.parent[name]
	return ok
}

// owner is the package of a data symbol: the one it is named after, else
// the package of the nearest symbol up its reachability chain that has one.
func (l *linked) owner(name string) string {
	s := name
	for guard := 0; guard < 1000; guard++ {
		p := packageOf(s)
		if !strings.HasPrefix(p, "(") {
			return p
		}
		up, ok := l.parent[s]
		if !ok || up == "_" {
			break
		}
		s = up
	}
	return packageOf(name)
}

// isFuncdata reports whether a symbol is a function's funcdata, which the
// linker puts in go:func.* and the pclntab walk has charged already.
func isFuncdata(name string) bool {
	if strings.HasPrefix(name, "gclocals·") || strings.HasPrefix(name, "gcargs·") {
		return true
	}
	for _, suf := range []string{".stkobj", ".opendefer", ".argliveinfo", ".wrapinfo", ".inlinetree", ".inltree"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	if i := strings.LastIndex(name, ".arginfo"); i >= 0 && strings.Trim(name[i+len(".arginfo"):], "0123456789") == "" {
		return true
	}
	return false
}

// buildLinked builds the main package in dir unstripped, with the
// linker's dependency dump, and reads the object files of its packages.
func buildLinked(dir string) (bin string, l *linked, cleanup func(), err error) {
	tmp, err := os.MkdirTemp("", "sizeof")
	if err != nil {
		return "", nil, nil, err
	}
	remove := func() { os.RemoveAll(tmp) }
	defer func() {
		if err != nil {
			remove() // cleanup is nil on an error return
		}
	}()
	cleanup = remove
	bin = filepath.Join(tmp, "bin")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-dumpdep", "-o", bin, ".")
	cmd.Dir = dir
	var dump bytes.Buffer
	cmd.Stderr = &dump
	if err := cmd.Run(); err != nil {
		return "", nil, nil, fmt.Errorf("go build in %s: %v\n%s", dir, err, tail(dump.Bytes()))
	}
	l = &linked{parent: map[string]string{}, objs: map[string]objSym{}}
	for _, line := range strings.Split(dump.String(), "\n") {
		from, to, ok := cutEdge(line)
		if !ok {
			continue
		}
		if _, seen := l.parent[to]; !seen {
			l.parent[to] = from
		}
	}
	cmd = exec.Command("go", "list", "-trimpath", "-export", "-deps", "-f", "{{.Export}}", ".")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", nil, nil, fmt.Errorf("go list in %s: %v", dir, err)
	}
	archives := strings.Fields(string(out))
	cmd = exec.Command("go", append([]string{"tool", "nm", "-size"}, archives...)...)
	cmd.Stderr = os.Stderr
	out, err = cmd.Output()
	if err != nil {
		return "", nil, nil, fmt.Errorf("go tool nm: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		// "FILE:\t ADDR SIZE TYPE NAME", and NAME may hold spaces.
		if _, rest, ok := strings.Cut(line, ":\t"); ok {
			line = rest
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		var sec string
		switch f[2] {
		case "R", "r":
			sec = ".rodata"
		case "D", "d":
			sec = ".data"
		default:
			continue
		}
		name := strings.Join(f[3:], " ")
		if i := strings.Index(line, f[2]+" "); i >= 0 {
			name = line[i+2:]
		}
		if i := strings.LastIndexByte(name, '<'); i > 0 && strings.HasSuffix(name, ">") {
			name = name[:i] // a package-local symbol: "pkg..stmp_3<1>"
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || size == 0 {
			continue
		}
		if sec == ".data" && noPointers(name) {
			sec = ".noptrdata"
		}
		if old, ok := l.objs[name]; !ok || size > old.size {
			l.objs[name] = objSym{size: size, section: sec}
		}
	}
	return bin, l, cleanup, nil
}

// noPointers guesses which writable data the linker puts in .noptrdata.
func noPointers(name string) bool {
	return !strings.HasPrefix(name, "go:itab.")
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}

// cutEdge splits a -dumpdep line "FROM -> TO", dropping the linker's
// " <UsedInIface>" marks.
func cutEdge(line string) (from, to string, ok bool) {
	from, to, ok = strings.Cut(line, " -> ")
	from = strings.TrimSuffix(from, " <UsedInIface>")
	to = strings.TrimSuffix(to, " <UsedInIface>")
	return from, to, ok
}
