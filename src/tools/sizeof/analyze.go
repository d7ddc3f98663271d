package main

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

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
