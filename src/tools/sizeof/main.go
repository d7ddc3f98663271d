// Command sizeof shows what each Go package costs in a binary.
//
//	sizeof [-n N] [-pkg REGEX] BINARY      bytes per package, biggest first
//	sizeof [-n N] -diff OLD NEW            per-package change from OLD to NEW
//	sizeof -why REGEX DUMPDEP              why the linker kept a symbol
//	sizeof -build [-diff] DIR...           build the main package in each DIR first
//
// A package's bytes are its functions' machine code, its data and
// read-only data (type descriptors, strings owned by it, tables), and its
// functions' share of .gopclntab: the name, the _func record, the pc-value
// tables and the funcdata (stack maps, inlining trees). Tables shared by
// several functions are split between them. What belongs to no package
// (ELF headers, alignment, file tables) is listed under parenthesized names,
// so the column sums to the allocated size of the binary; a stripped file
// also pays the padding of its 64 KiB-aligned segments (MIPS).
//
// Measure an unstripped build (no -ldflags=-s): it has the symbol table.
// A stripped one still gives the code and .gopclntab share of each package,
// but its data shows as "(data, stripped)".
//
// The ELF symbol table gives no size for type descriptors, strings and
// other grouped read-only data. -build builds the main package in DIR
// (with the environment's GOOS, GOARCH, GOMIPS...; unstripped, -trimpath)
// and charges that data too: sizes come from the packages' object files,
// and data not named after a package (strings, function types, itabs) goes
// to the package of the symbol that made the linker keep it
// (-ldflags=-dumpdep).
//
// -pkg REGEX lists the symbols of the matching packages instead.
//
// -why reads the output of `go build -ldflags=-dumpdep` (the linker prints
// each reachable symbol once, with the symbol that made it reachable) and
// prints the chain from the program's roots to the first symbol matching
// REGEX.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
)

func main() {
	n := flag.Int("n", 40, "show the N biggest entries (0: all)")
	diff := flag.Bool("diff", false, "compare two binaries: sizeof -diff OLD NEW")
	why := flag.String("why", "", "print why the symbol matching `REGEX` is linked, from a -dumpdep file")
	pkg := flag.String("pkg", "", "list the symbols of the packages matching `REGEX`")
	flag.BoolVar(&build, "build", false, "arguments are directories of main packages to build and measure")
	save := flag.String("save", "", "write the per-package table of BINARY to `FILE` (a listing -diff takes as OLD)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: sizeof [-n N] [-pkg REGEX] BINARY\n       sizeof [-n N] -diff OLD NEW\n       sizeof -why REGEX DUMPDEP")
		flag.PrintDefaults()
	}
	flag.Parse()
	var err error
	switch {
	case *why != "":
		if flag.NArg() != 1 {
			flag.Usage()
			os.Exit(2)
		}
		err = explain(os.Stdout, *why, flag.Arg(0))
	case *save != "":
		if flag.NArg() != 1 {
			flag.Usage()
			os.Exit(2)
		}
		err = saveListing(*save, flag.Arg(0))
	case *diff:
		if flag.NArg() != 2 {
			flag.Usage()
			os.Exit(2)
		}
		err = compare(os.Stdout, flag.Arg(0), flag.Arg(1), *n)
	default:
		if flag.NArg() != 1 {
			flag.Usage()
			os.Exit(2)
		}
		err = show(os.Stdout, flag.Arg(0), *n, *pkg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sizeof:", err)
		os.Exit(1)
	}
}

var build bool

// cost is what one package (or one symbol) takes, in bytes.
type cost struct {
	text, data, pcln float64
}

func (c cost) total() float64 { return c.text + c.data + c.pcln }

func (c *cost) add(o cost) {
	c.text += o.text
	c.data += o.data
	c.pcln += o.pcln
}

// report is the analysis of one binary.
type report struct {
	pkgs  map[string]*cost
	syms  map[string]*cost // by symbol name, filled in for -pkg
	alloc uint64           // sum of the allocated sections' sizes
	file  int64
	note  string
}

func (r *report) charge(pkg, sym string, c cost) {
	p := r.pkgs[pkg]
	if p == nil {
		p = new(cost)
		r.pkgs[pkg] = p
	}
	p.add(c)
	if r.syms != nil {
		s := r.syms[sym]
		if s == nil {
			s = new(cost)
			r.syms[sym] = s
		}
		s.add(c)
	}
}

func show(w io.Writer, path string, n int, pkgRE string) error {
	var re *regexp.Regexp
	if pkgRE != "" {
		var err error
		if re, err = regexp.Compile(pkgRE); err != nil {
			return err
		}
	}
	r, err := analyze(path, re != nil)
	if err != nil {
		return err
	}
	if r.note != "" {
		fmt.Fprintf(w, "# %s\n", r.note)
	}
	if re != nil {
		type row struct {
			name string
			c    cost
		}
		var rows []row
		for name, c := range r.syms {
			if re.MatchString(packageOf(name)) {
				rows = append(rows, row{name, *c})
			}
		}
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].c.total() != rows[j].c.total() {
				return rows[i].c.total() > rows[j].c.total()
			}
			return rows[i].name < rows[j].name
		})
		var sum cost
		fmt.Fprintf(w, "%9s %9s %9s %9s  %s\n", "total", "code", "data", "pcln", "symbol")
		for i, x := range rows {
			sum.add(x.c)
			if n > 0 && i >= n {
				continue
			}
			fmt.Fprintf(w, "%9.0f %9.0f %9.0f %9.0f  %s\n", x.c.total(), x.c.text, x.c.data, x.c.pcln, x.name)
		}
		fmt.Fprintf(w, "%9.0f %9.0f %9.0f %9.0f  (%d symbols)\n", sum.total(), sum.text, sum.data, sum.pcln, len(rows))
		return nil
	}
	names := sortedByTotal(r.pkgs)
	fmt.Fprintf(w, "%9s %8s %8s %8s %6s  %s\n", "KiB", "code", "data", "pcln", "%", "package")
	var rest cost
	shown := 0
	for _, name := range names {
		c := r.pkgs[name]
		if n > 0 && shown >= n {
			rest.add(*c)
			continue
		}
		shown++
		fmt.Fprintf(w, "%9.1f %8.1f %8.1f %8.1f %6.2f  %s\n", c.total()/1024, c.text/1024, c.data/1024, c.pcln/1024,
			100*c.total()/float64(r.alloc), name)
	}
	if rest.total() > 0 {
		fmt.Fprintf(w, "%9.1f %8.1f %8.1f %8.1f %6.2f  (%d more packages)\n", rest.total()/1024, rest.text/1024,
			rest.data/1024, rest.pcln/1024, 100*rest.total()/float64(r.alloc), len(names)-shown)
	}
	fmt.Fprintf(w, "%9.1f %8s %8s %8s %6s  allocated sections (file: %d bytes)\n", float64(r.alloc)/1024, "", "", "", "", r.file)
	return nil
}

func compare(w io.Writer, oldPath, newPath string, n int) error {
	a, err := loadListing(oldPath)
	if err == errNotListing {
		a, err = analyze(oldPath, false)
	}
	if err != nil {
		return err
	}
	b, err := analyze(newPath, false)
	if err != nil {
		return err
	}
	delta := map[string]*cost{}
	for name, c := range b.pkgs {
		d := *c
		delta[name] = &d
	}
	for name, c := range a.pkgs {
		d := delta[name]
		if d == nil {
			d = new(cost)
			delta[name] = d
		}
		d.text -= c.text
		d.data -= c.data
		d.pcln -= c.pcln
	}
	names := make([]string, 0, len(delta))
	for name, d := range delta {
		if int64(d.total()) != 0 {
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		x, y := abs(delta[names[i]].total()), abs(delta[names[j]].total())
		if x != y {
			return x > y
		}
		return names[i] < names[j]
	})
	fmt.Fprintf(w, "%10s %10s %10s  %s\n", "old B", "new B", "delta B", "package")
	var rest float64
	for i, name := range names {
		d := delta[name]
		if n > 0 && i >= n {
			rest += d.total()
			continue
		}
		var o, nw float64
		if c := a.pkgs[name]; c != nil {
			o = c.total()
		}
		if c := b.pkgs[name]; c != nil {
			nw = c.total()
		}
		fmt.Fprintf(w, "%10.0f %10.0f %+10.0f  %s%s\n", o, nw, d.total(), name, mark(o, nw))
	}
	if n > 0 && len(names) > n {
		fmt.Fprintf(w, "%10s %10s %+10.0f  (%d more packages)\n", "", "", rest, len(names)-n)
	}
	fmt.Fprintf(w, "%10d %10d %+10d  allocated sections\n", a.alloc, b.alloc, int64(b.alloc)-int64(a.alloc))
	fmt.Fprintf(w, "%10d %10d %+10d  file\n", a.file, b.file, b.file-a.file)
	return nil
}

func mark(o, n float64) string {
	switch {
	case o == 0:
		return " (new)"
	case n == 0:
		return " (gone)"
	}
	return ""
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func sortedByTotal(m map[string]*cost) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		x, y := m[names[i]].total(), m[names[j]].total()
		if x != y {
			return x > y
		}
		return names[i] < names[j]
	})
	return names
}
