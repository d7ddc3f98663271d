package privs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStartUnprivileged: the child has no_new_privs; the daemon's other
// threads do not.
func TestStartUnprivileged(t *testing.T) {
	for i := 0; i < 20; i++ { // enough to land on the main thread sometimes
		out := filepath.Join(t.TempDir(), "status")
		c := exec.Command("/bin/sh", "-c", "grep NoNewPrivs /proc/self/status > "+out)
		if err := StartUnprivileged(c); err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(out)
		if !strings.Contains(string(b), "NoNewPrivs:\t1") {
			t.Fatalf("child status: %q", b)
		}
		// /proc/self/status is the main thread's.
		self, _ := os.ReadFile("/proc/self/status")
		if !strings.Contains(string(self), "NoNewPrivs:\t0") {
			t.Fatal("the test process's main thread got no_new_privs")
		}
	}
}

// self runs the test binary again. Where the suite runs under an emulator
// (go test -exec qemu-mips-static, with no binfmt_misc registration), the
// emulator is named by KNOCKD_GO_TEST_EXEC and runs the child too.
func self(args ...string) *exec.Cmd {
	if emu := os.Getenv("KNOCKD_GO_TEST_EXEC"); emu != "" {
		return exec.Command(emu, append([]string{os.Args[0]}, args...)...)
	}
	return exec.Command(os.Args[0], args...)
}

func TestMain(m *testing.M) {
	switch os.Getenv("PRIVS_HELPER") {
	case "keep":
		os.Exit(helperKeep(false))
	case "bound":
		os.Exit(helperKeep(true))
	case "execdrop":
		// Threads that exist at the change, as the daemon's would.
		for i := 0; i < 4; i++ {
			go func() { runtime.LockOSThread(); time.Sleep(time.Hour) }()
		}
		os.Setenv("PRIVS_HELPER", "dropped")
		err := ExecDroppedAs(nil, []int{NetRaw, NetAdmin}, []syscall.Signal{syscall.SIGHUP}, []string{"PRIVS_EXTRA=1"})
		fmt.Println("error:", err)
		os.Exit(1)
	case "execdropuser":
		for i := 0; i < 4; i++ {
			go func() { runtime.LockOSThread(); time.Sleep(time.Hour) }()
		}
		os.Setenv("PRIVS_HELPER", "droppeduser")
		user := &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}
		err := ExecDroppedAs(user, []int{NetRaw, NetAdmin}, nil, nil)
		fmt.Println("error:", err)
		os.Exit(1)
	case "droppeduser":
		st, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(st), "\n") {
			for _, k := range []string{"Uid:", "Gid:", "Groups:", "NoNewPrivs:", "CapAmb:"} {
				if strings.HasPrefix(l, k) {
					fmt.Println(strings.Join(strings.Fields(l), " "))
				}
			}
		}
		// A root-owned file with an owner-write bit is not writable.
		if f, err := os.OpenFile(os.Getenv("PRIVS_ROOTFILE"), os.O_WRONLY, 0); err == nil {
			f.Close()
			fmt.Println("root file: writable")
		} else {
			fmt.Println("root file:", err)
		}
		os.Exit(printThreads(true))
	case "dropped":
		st, _ := os.ReadFile("/proc/self/status")
		fmt.Println("dropped", Dropped(), os.Getenv("PRIVS_EXTRA"), os.Getenv("KNOCKD_GO_DROPPED") == "", strings.Contains(string(st), "NoNewPrivs:\t1"))
		os.Exit(printThreads(true))
	}
	os.Exit(m.Run())
}

// helperKeep keeps net_raw and net_admin (in the bounding set too with
// bound), then prints the capabilities of every thread, and those of a
// child run as root.
func helperKeep(bound bool) int {
	if bound {
		if err := Bound(NetRaw, NetAdmin); err != nil {
			fmt.Println("error:", err)
			return 1
		}
	}
	if err := Keep(NetRaw, NetAdmin); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	return printThreads(bound)
}

// printThreads prints the capabilities of every thread (the bounding set
// too with bound), and those of a child run as root.
func printThreads(bound bool) int {
	tasks, _ := filepath.Glob("/proc/self/task/*/status")
	for _, p := range tasks {
		b, _ := os.ReadFile(p)
		var caps []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "CapEff:") || strings.HasPrefix(l, "CapPrm:") || (bound && strings.HasPrefix(l, "CapBnd:")) {
				caps = append(caps, strings.Replace(l, ":\t", "=", 1))
			}
		}
		fmt.Println("thread", filepath.Base(filepath.Dir(p)), strings.Join(caps, " "))
	}
	out, _ := exec.Command("grep", "CapEff", "/proc/self/status").Output()
	fmt.Print("child ", string(out))
	c, _ := Current()
	fmt.Printf("current %x\n", c)
	return 0
}

func TestKeep(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("KNOCKD_GO_STRICT") != "" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	cmd := self("-test.run=^$")
	cmd.Env = append(os.Environ(), "PRIVS_HELPER=keep")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	const want = "0000000000003000" // net_admin (12) and net_raw (13)
	threads := checkThreads(t, string(out), want)
	if threads < 2 || !strings.Contains(string(out), "current 3000") {
		t.Fatalf("output:\n%s", out)
	}
	// A command run as root still gets root's capabilities (knockd's way).
	if strings.Contains(string(out), "child CapEff:\t"+want) {
		t.Fatalf("a root child lost its capabilities:\n%s", out)
	}
	t.Logf("\n%s", out)
}

// TestExecDroppedAs: the process executed as another user keeps net_raw
// and net_admin on every thread (ambient), has that user's uid and gid
// alone, no_new_privs, and cannot write a root-owned 0644 file.
func TestExecDroppedAs(t *testing.T) {
	if os.Getenv("KNOCKD_GO_TEST_EXEC") != "" {
		t.Skip("SKIP: it executes /proc/self/exe, which qemu-user without binfmt_misc runs natively (exec format error)")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("KNOCKD_GO_STRICT") != "" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	root := filepath.Join(t.TempDir(), "root-owned")
	if err := os.WriteFile(root, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(root), 0o755)
	cmd := self("-test.run=^$")
	cmd.Env = append(os.Environ(), "PRIVS_HELPER=execdropuser", "PRIVS_ROOTFILE="+root)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, want := range []string{
		"Uid: 65534 65534 65534 65534\n", "Gid: 65534 65534 65534 65534\n", "Groups:\n",
		"NoNewPrivs: 1\n", "CapAmb: 0000000000003000\n", "root file: open " + root + ": permission denied\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in the output:\n%s", want, out)
		}
	}
	if threads := checkThreads(t, string(out), "0000000000003000"); threads < 2 {
		t.Fatalf("output:\n%s", out)
	}
	t.Logf("\n%s", out)
}

// TestExecDropped: the process executed with net_raw and net_admin
// alone (effective, permitted and bounding sets) has nothing else on any
// thread, has no_new_privs, knows it was dropped, and got the added
// environment; the
// change stopped no thread of the old program.
func TestExecDropped(t *testing.T) {
	if os.Getenv("KNOCKD_GO_TEST_EXEC") != "" {
		t.Skip("SKIP: it executes /proc/self/exe, which qemu-user without binfmt_misc runs natively (exec format error)")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("KNOCKD_GO_STRICT") != "" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	cmd := self("-test.run=^$")
	cmd.Env = append(os.Environ(), "PRIVS_HELPER=execdrop")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.HasPrefix(string(out), "dropped true 1 true true\n") {
		t.Fatalf("output:\n%s", out)
	}
	if threads := checkThreads(t, string(out), "0000000000003000"); threads < 2 {
		t.Fatalf("output:\n%s", out)
	}
	t.Logf("\n%s", out)
}

// TestBound: with the bounding set narrowed too, every thread and a child
// run as root have net_raw and net_admin and nothing else.
func TestBound(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("KNOCKD_GO_STRICT") != "" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	cmd := self("-test.run=^$")
	cmd.Env = append(os.Environ(), "PRIVS_HELPER=bound")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	const want = "0000000000003000"
	bnd := checkThreads(t, string(out), want)
	if bnd < 2 || !strings.Contains(string(out), "child CapEff:\t"+want) {
		t.Fatalf("a root child regained capabilities, or no thread showed its bounding set:\n%s", out)
	}
	t.Logf("\n%s", out)
}

// checkThreads fails the test for every thread of the helper's output
// holding more than want (in each capability set it printed) and returns
// how many threads hold exactly want. Under an emulator (qemu-user), one
// thread is the emulator's own RCU thread, which no guest system call
// reaches: that one is allowed to keep what it had.
func checkThreads(t *testing.T, out, want string) int {
	t.Helper()
	allowed := 0
	if os.Getenv("KNOCKD_GO_TEST_EXEC") != "" {
		allowed = 1
	}
	good, more := 0, []string{}
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "thread ") {
			continue
		}
		f := strings.Fields(l)
		ok := len(f) > 2
		for _, c := range f[2:] {
			if !strings.HasSuffix(c, "="+want) {
				ok = false
			}
		}
		if ok {
			good++
		} else {
			more = append(more, l)
		}
	}
	if len(more) > allowed {
		t.Errorf("threads kept more than %s:\n%s", want, strings.Join(more, "\n"))
	}
	return good
}

func TestLookupUser(t *testing.T) {
	p := filepath.Join(t.TempDir(), "passwd")
	os.WriteFile(p, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nbad:x:1:x::/:\n"), 0o644)
	c, err := lookupUser(p, "nobody")
	if err != nil || c.Uid != 65534 || c.Gid != 65534 {
		t.Fatalf("nobody: %+v %v", c, err)
	}
	for _, n := range []string{"bad", "missing"} {
		if _, err := lookupUser(p, n); err == nil {
			t.Errorf("%s: no error", n)
		}
	}
	if _, err := lookupUser(filepath.Join(t.TempDir(), "none"), "x"); err == nil {
		t.Error("missing passwd file")
	}
	if _, err := LookupUser("root"); err != nil {
		t.Errorf("root: %v", err)
	}
}
