package tune

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

//go:linkname runtimeAuxv runtime.getAuxv
func runtimeAuxv() []uintptr

// Settled gives back the program's pages this process has read so far:
// call it once the process serves. Until then it ran code it will not run
// again (each package's set-up, the configuration's parser, the checks),
// and the kernel maps the pages around each page it reads (64 KiB at a
// time): each of knockd-go's two processes held most of the 4 MB program
// (4-5 MB of RSS each on the 24Kc guest, the spawner's for a loop that
// runs little of it). The program's code and read-only data are mapped
// from its file and never written: they are dropped from the process
// (madvise MADV_DONTNEED), and what it runs afterwards comes back from
// the page cache when it first runs it. The segments are found through
// the program headers the kernel names in the auxiliary vector
// (AT_PHDR). Errors are ignored: the pages then stay.
func Settled() { _ = settle(runtimeAuxv(), os.Getpagesize()) }

// Auxiliary vector keys and program header fields (Elf32_Phdr and
// Elf64_Phdr).
const (
	atPhdr  = 3
	atPhent = 4
	atPhnum = 5
	ptLoad  = 1
	ptPhdr  = 6
	pfW     = 2
)

// settle drops the read-only loadable segments of the program whose
// auxiliary vector is auxv and returns how many bytes it asked the kernel
// to drop.
func settle(auxv []uintptr, page int) int {
	var phdr, phnum uintptr
	ok := len(auxv) > 1
	for i := 0; ok && i+1 < len(auxv); i += 2 {
		switch v := auxv[i+1]; auxv[i] {
		case atPhdr:
			phdr = v
		case atPhent:
			ok = v == phentSize
		case atPhnum:
			phnum = v
		}
	}
	if !ok || phdr == 0 || phnum > 64 {
		return 0
	}
	// PT_PHDR comes before the loadable segments: where the headers are
	// against where the program says they are is the load bias (0 for
	// the static, fixed-address binaries we ship). Without it, nothing.
	mask := uintptr(page - 1)
	bias, found, n := uintptr(0), false, 0
	for p := phdr; p < phdr+phnum*phentSize; p += phentSize {
		h := *(*unsafe.Pointer)(unsafe.Pointer(&p)) // kernel-mapped, not the Go heap
		// Elf32_Phdr: vaddr at 8, filesz at 16, flags at 24; Elf64_Phdr:
		// flags at 4, vaddr at 16, filesz at 32.
		typ, flags := *(*uint32)(h), *(*uint32)(unsafe.Add(h, 4+20*(8-unsafe.Sizeof(p))/4))
		vaddr, filesz := *(*uintptr)(unsafe.Add(h, 2*unsafe.Sizeof(p)))+bias, *(*uintptr)(unsafe.Add(h, 4*unsafe.Sizeof(p)))
		if typ == ptPhdr {
			bias, found = phdr-vaddr, true
		} else if typ == ptLoad && found && flags&pfW == 0 {
			start, end := vaddr&^mask, (vaddr+filesz+mask)&^mask
			if _, _, e := unix.RawSyscall(unix.SYS_MADVISE, start, end-start, unix.MADV_DONTNEED); e == 0 {
				n += int(end - start)
			}
		}
	}
	return n
}

// phentSize is the size of a program header of this word size.
const phentSize = 32 + 24*(unsafe.Sizeof(uintptr(0))/8)
