package privs

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Rename gives a process executed through /proc/self/exe (the daemon
// giving up root's privileges, its spawner, the trampoline) back the name
// of the program it was started as, os.Args[0]: the kernel names such a
// process "exe", which ps, top and its own messages (the out-of-memory
// killer's) would show. Every thread is renamed through its comm file;
// threads started later take the name of the thread that starts them.
// Call it first in main. A process started by its own name is left alone.
func Rename() {
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil || string(comm) != "exe\n" || len(os.Args) == 0 {
		return
	}
	name := os.Args[0][strings.LastIndexByte(os.Args[0], '/')+1:]
	if len(name) > 15 { // TASK_COMM_LEN, its NUL aside
		name = name[:15]
	}
	if name == "" || name == "exe" {
		return
	}
	for _, t := range tasks() {
		// A thread that ended meanwhile has no comm file: nothing to do.
		if fd, err := unix.Open("/proc/self/task/"+t+"/comm", unix.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
			_, _ = unix.Write(fd, []byte(name))
			unix.Close(fd)
		}
	}
}

// tasks returns the thread ids of the process. It reads the directory
// with getdents64(2) and walks the records itself: os's directory
// reading (and os.ReadDir's sort) would add 16 KB to the smallest builds
// (docs/size.md).
func tasks() []string {
	fd, err := unix.Open("/proc/self/task", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var ids []string
	buf := make([]byte, 4096)
	for range 64 { // each read returns a dozen threads or more: every one
		n, err := unix.Getdents(fd, buf)
		if err != nil || n <= 0 {
			break
		}
		ids = direntNames(buf[:n], ids)
	}
	return ids
}

// direntNames appends the names of the linux_dirent64 records in b (ino
// 8 bytes, off 8, reclen 2, type 1, then the name and its NUL) to names,
// "." and ".." aside.
func direntNames(b []byte, names []string) []string {
	for len(b) >= 19 {
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < 19 || reclen > len(b) {
			break
		}
		name := b[19:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if s := string(name); s != "." && s != ".." {
			names = append(names, s)
		}
		b = b[reclen:]
	}
	return names
}
