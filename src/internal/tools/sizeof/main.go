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
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func main() {
	n := flag.Int("n", 40, "show the N biggest entries (0: all)")
	diff := flag.Bool("diff", false, "compare two binaries: sizeof -diff OLD NEW")
	why := flag.String("why", "", "print why the symbol matching `REGEX` is linked, from a -dumpdep file")
	pkg := flag.String("pkg", "", "list the symbols of the packages matching `REGEX`")
	flag.BoolVar(&build, "build", false, "arguments are directories of main packages to build and measure")
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
	a, err := analyze(oldPath, false)
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

// analyze charges every allocated byte of the ELF file at path to a
// package or to a parenthesized pseudo-package.
func analyze(path string, bySymbol bool) (*report, error) {
	var extra *linked
	if build {
		var err error
		var cleanup func()
		path, extra, cleanup, err = buildLinked(path)
		if err != nil {
			return nil, err
		}
		defer cleanup()
	}
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	r := &report{pkgs: map[string]*cost{}, file: st.Size()}
	if bySymbol {
		r.syms = map[string]*cost{}
	}

	// covered counts the bytes of an allocated, file-backed section that
	// symbols or the pclntab walk have charged; the rest is charged to
	// "(unnamed: SECTION)".
	type secInfo struct {
		s       *elf.Section
		covered float64
	}
	var secs []*secInfo
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 || s.Type == elf.SHT_NOBITS || s.Size == 0 {
			continue
		}
		r.alloc += s.Size
		secs = append(secs, &secInfo{s: s})
	}
	secOf := func(addr uint64) *secInfo {
		for _, si := range secs {
			if addr >= si.s.Addr && addr < si.s.Addr+si.s.Size {
				return si
			}
		}
		return nil
	}

	syms, err := f.Symbols()
	stripped := errors.Is(err, elf.ErrNoSymbols)
	if err != nil && !stripped {
		return nil, err
	}
	var gofunc *elf.Symbol
	for i := range syms {
		if syms[i].Name == "go:func.*" {
			gofunc = &syms[i]
		}
	}

	pcln := f.Section(".gopclntab")
	if pcln == nil {
		return nil, fmt.Errorf("%s: no .gopclntab section (not a Go ELF binary?)", path)
	}
	pclnData, err := pcln.Data()
	if err != nil {
		return nil, err
	}
	var gofuncData []byte
	var gofuncAddr uint64
	if gofunc != nil {
		if si := secOf(gofunc.Value); si != nil {
			d, err := si.s.Data()
			if err != nil {
				return nil, err
			}
			if gofunc.Size == 0 {
				// Go 1.23 gives go:func.* no size: it runs to the next
				// symbol or the end of its section.
				end := si.s.Addr + si.s.Size
				for i := range syms {
					if v := syms[i].Value; v > gofunc.Value && v < end {
						end = v
					}
				}
				gofunc.Size = end - gofunc.Value
			}
			off := gofunc.Value - si.s.Addr
			gofuncData = d[off : off+gofunc.Size]
			gofuncAddr = gofunc.Value
		}
	}
	funcs, err := walkPclntab(pclnData, f.ByteOrder, gofuncData)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	var pclnCharged float64
	for _, fn := range funcs {
		c := cost{pcln: fn.pcln + fn.funcdata}
		pclnCharged += fn.pcln
		if stripped {
			c.text = float64(fn.size)
		}
		r.charge(packageOf(fn.name), fn.name, c)
	}
	// The funcdata lives in go:func.*, which sits in .gopclntab (Go >= 1.22)
	// or .rodata: either way it must not be charged again as a symbol.
	var funcdataCharged float64
	for _, fn := range funcs {
		funcdataCharged += fn.funcdata
	}
	if si := secOf(pcln.Addr); si != nil {
		si.covered += pclnCharged
	}
	if gofunc != nil {
		if si := secOf(gofuncAddr); si != nil {
			si.covered += funcdataCharged
			r.charge("(funcdata, unattributed)", "go:func.*", cost{pcln: float64(gofunc.Size) - funcdataCharged})
			si.covered += float64(gofunc.Size) - funcdataCharged
		}
	}

	if stripped {
		r.note = "stripped binary: code and pclntab per package; data as \"(data, stripped)\""
		for _, si := range secs {
			if si.s.Flags&elf.SHF_EXECINSTR != 0 {
				si.covered = float64(si.s.Size) // the functions' sizes cover .text
			}
		}
	}
	for i := range syms {
		s := &syms[i]
		if s.Size == 0 || s.Name == "go:func.*" || elf.ST_TYPE(s.Info) == elf.STT_SECTION {
			continue
		}
		si := secOf(s.Value)
		if si == nil {
			continue // bss, or not allocated
		}
		c := cost{}
		if si.s.Flags&elf.SHF_EXECINSTR != 0 {
			c.text = float64(s.Size)
		} else if si.s.Name == ".gopclntab" {
			c.pcln = float64(s.Size)
		} else {
			c.data = float64(s.Size)
		}
		si.covered += float64(s.Size)
		r.charge(packageOf(s.Name), s.Name, c)
	}
	if extra != nil {
		charged := map[string]bool{}
		for i := range syms {
			if syms[i].Size > 0 {
				charged[syms[i].Name] = true
			}
		}
		for _, fn := range funcs {
			charged[fn.name] = true
		}
		for name, o := range extra.objs {
			if charged[name] || !extra.reachable(name) || isFuncdata(name) {
				continue
			}
			pkg := extra.owner(name)
			var si *secInfo
			for _, x := range secs {
				if x.s.Name == o.section {
					si = x
				}
			}
			if o.section == ".noptrdata" && (si == nil || si.covered+float64(o.size) > float64(si.s.Size)) {
				// Which writable data has no pointers is a guess:
				// what does not fit goes to .data.
				for _, x := range secs {
					if x.s.Name == ".data" {
						si = x
					}
				}
			}
			if si == nil {
				continue
			}
			si.covered += float64(o.size)
			r.charge(pkg, name, cost{data: float64(o.size)})
		}
	}
	for _, si := range secs {
		rest := float64(si.s.Size) - si.covered
		if rest < 0 && build {
			r.note += fmt.Sprintf("%s: object sizes exceed the section by %.0f bytes (duplicates merged by the linker); ", si.s.Name, -rest)
		}
		if rest < 1 {
			continue
		}
		name := "(unnamed: " + si.s.Name + ")"
		switch {
		case si.s.Name == ".gopclntab":
			name = "(pclntab: header, file tables)"
		case stripped && si.s.Flags&elf.SHF_EXECINSTR == 0:
			name = "(data, stripped)"
		}
		c := cost{data: rest}
		if si.s.Name == ".gopclntab" {
			c = cost{pcln: rest}
		}
		r.charge(name, name, c)
	}
	return r, nil
}

// fn is one function's share of .gopclntab.
type fn struct {
	name     string
	size     uint32  // code bytes, from the function table
	pcln     float64 // name, _func record, function table entry, pc-value tables
	funcdata float64 // its share of go:func.*
}

// walkPclntab reads the Go 1.20+ .gopclntab (magic 0xfffffff1) and
// returns each function's share of it. gofunc is the content of go:func.*
// (nil when unknown), into which the funcdata offsets point.
func walkPclntab(d []byte, bo binary.ByteOrder, gofunc []byte) ([]fn, error) {
	if len(d) < 8 || bo.Uint32(d) != 0xfffffff1 {
		return nil, errors.New("unsupported .gopclntab (needs Go 1.20 or later)")
	}
	ptr := int(d[7])
	word := func(i int) int {
		off := 8 + i*ptr
		if ptr == 8 {
			return int(bo.Uint64(d[off:]))
		}
		return int(bo.Uint32(d[off:]))
	}
	nfunc := word(0)
	funcnameOff, pctabOff, pclnOff := word(3), word(6), word(7)
	ftab := d[pclnOff:]
	u32 := func(b []byte, off int) uint32 { return bo.Uint32(b[off:]) }

	funcs := make([]fn, nfunc)
	// Tables (pc-value or funcdata) shared by several functions are split
	// between them: count the users of each first.
	pcUsers := map[uint32][]int{}
	fdUsers := map[uint32][]int{}
	for i := 0; i < nfunc; i++ {
		entry, foff := u32(ftab, 8*i), int(u32(ftab, 8*i+4))
		next := u32(ftab, 8*(i+1))
		rec := ftab[foff:]
		nameOff := int(u32(rec, 4))
		name := cstring(d[funcnameOff+nameOff:])
		npcdata := int(u32(rec, 28))
		nfuncdata := int(rec[43])
		funcs[i] = fn{
			name: name,
			size: next - entry,
			pcln: float64(len(name) + 1 + 8 + 44 + 4*npcdata + 4*nfuncdata),
		}
		tabs := []uint32{u32(rec, 16), u32(rec, 20), u32(rec, 24)} // pcsp, pcfile, pcln
		for k := 0; k < npcdata; k++ {
			tabs = append(tabs, u32(rec, 44+4*k))
		}
		for _, t := range tabs {
			if t != 0 {
				pcUsers[t] = append(pcUsers[t], i)
			}
		}
		for k := 0; k < nfuncdata; k++ {
			o := u32(rec, 44+4*npcdata+4*k)
			if o != ^uint32(0) {
				fdUsers[o] = append(fdUsers[o], i)
			}
		}
	}
	pctab := d[pctabOff:]
	for off, users := range pcUsers {
		n := float64(pcvalueLen(pctab[off:])) / float64(len(users))
		for _, i := range users {
			funcs[i].pcln += n
		}
	}
	if gofunc != nil {
		// go:func.* is the funcdata laid end to end: each piece runs to
		// the next referenced offset.
		offs := make([]uint32, 0, len(fdUsers))
		for o := range fdUsers {
			offs = append(offs, o)
		}
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		for k, o := range offs {
			end := uint32(len(gofunc))
			if k+1 < len(offs) {
				end = offs[k+1]
			}
			if o >= end {
				continue
			}
			users := fdUsers[o]
			n := float64(end-o) / float64(len(users))
			for _, i := range users {
				funcs[i].funcdata += n
			}
		}
	}
	return funcs, nil
}

// pcvalueLen is the length of the pc-value table at the start of p: pairs
// of varints (value delta, pc delta), ended by a zero value delta after the
// first pair.
func pcvalueLen(p []byte) int {
	i := 0
	for first := true; i < len(p); first = false {
		if p[i] == 0 && !first {
			return i + 1
		}
		_, n := binary.Uvarint(p[i:])
		if n <= 0 {
			return i
		}
		i += n
		_, n = binary.Uvarint(p[i:])
		if n <= 0 {
			return i
		}
		i += n
	}
	return i
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// packageOf returns the import path a symbol belongs to, or a
// parenthesized group for symbols that belong to no package.
func packageOf(sym string) string {
	s := sym
	isType := false
	switch {
	case strings.HasPrefix(s, "go:string."), s == "go:string.*":
		return "(strings)"
	case strings.HasPrefix(s, "go:itab."):
		s = strings.TrimPrefix(s, "go:itab.")
		if i := strings.IndexByte(s, ','); i >= 0 {
			s = s[:i] // the concrete type
		}
	case strings.HasPrefix(s, "type:.eq."), strings.HasPrefix(s, "type:.hash."):
		s = s[strings.IndexByte(s[5:], '.')+6:]
		s = s[strings.IndexByte(s, '.')+1:]
	case strings.HasPrefix(s, "type:"):
		s = strings.TrimPrefix(s, "type:")
		if s == "*" || strings.HasPrefix(s, ".") {
			return "(types)"
		}
		isType = true
	case strings.HasPrefix(s, "go:"):
		return "(" + strings.TrimSuffix(strings.SplitN(s, ".", 2)[0], "*") + ")"
	case strings.HasPrefix(s, "gclocals·"), strings.HasPrefix(s, "gcargs·"):
		return "(gc maps)"
	case strings.HasPrefix(s, "$f"), strings.HasPrefix(s, "$i"):
		return "(constants)"
	case strings.HasPrefix(s, "_rt0_"), s == "_cgo_init":
		return "runtime"
	}
	// Strip type decorations: *T, []T, [N]T, map[K]V, chan T, func(...).
	for {
		switch {
		case strings.HasPrefix(s, "*"):
			s = s[1:]
			continue
		case strings.HasPrefix(s, "[]"):
			s = s[2:]
			continue
		case strings.HasPrefix(s, "["):
			if i := strings.IndexByte(s, ']'); i > 0 {
				s = s[i+1:]
				continue
			}
		case strings.HasPrefix(s, "map["), strings.HasPrefix(s, "chan "), strings.HasPrefix(s, "func("),
			strings.HasPrefix(s, "struct {"), strings.HasPrefix(s, "interface {"), strings.HasPrefix(s, "noalg."):
			return "(types)"
		}
		break
	}
	// The path ends at the first '.' after the last '/' that comes before
	// any '(' or '[' (methods, closures, generic instances).
	end := len(s)
	if i := strings.IndexAny(s, "(["); i >= 0 {
		end = i
	}
	slash := strings.LastIndexByte(s[:end], '/')
	dot := strings.IndexByte(s[slash+1:end], '.')
	if dot < 0 {
		if slash < 0 && isType {
			return "(types)" // a predeclared type: int, string, error...
		}
		if slash < 0 {
			return "runtime" // assembly without a package prefix: gogo, callRet...
		}
		return s[:end]
	}
	return s[:slash+1+dot]
}

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
	cleanup = func() { os.RemoveAll(tmp) }
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
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
