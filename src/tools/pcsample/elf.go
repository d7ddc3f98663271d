package main

import (
	"debug/elf"
	"fmt"
)

// elfTextEnd returns the end of the executable segment of the ELF file bin.
func elfTextEnd(bin string) (uint64, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			return p.Vaddr + p.Memsz, nil
		}
	}
	return 0, fmt.Errorf("%s: no executable segment", bin)
}
