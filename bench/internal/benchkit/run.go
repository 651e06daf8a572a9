package benchkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gofer/tests/interop/launcher"
)

// PinSelf re-executes the benchmark under `taskset -c cpu` unless it
// already runs on exactly that CPU, so that every client thread and the
// servers (which inherit the affinity) share one CPU. It returns only if
// the benchmark is pinned, or with an error.
func PinSelf(cpu int) error {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil && set.Count() == 1 && set.IsSet(cpu) {
		return nil
	}
	if os.Getenv("GOFER_BENCH_PINNED") != "" {
		return fmt.Errorf("still not pinned to CPU %d after re-exec under taskset", cpu)
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("taskset not found (needed to pin to CPU %d; use --cpu -1 to skip): %v", cpu, err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	os.Setenv("GOFER_BENCH_PINNED", "1")
	args := append([]string{"taskset", "-c", strconv.Itoa(cpu), self}, os.Args[1:]...)
	return fmt.Errorf("exec taskset: %v", syscall.Exec(taskset, args, os.Environ()))
}

// CheckPinned verifies that server p may run on cpu only.
func CheckPinned(p *launcher.Process, cpu int) error {
	if got := p.CPUsAllowed(); got != strconv.Itoa(cpu) {
		return fmt.Errorf("server is not pinned: Cpus_allowed_list %q, want %d", got, cpu)
	}
	return nil
}

// NewRoot creates the fixture root, workDir/root (workDir: a new temporary
// directory named after prefix if empty), on a fresh tmpfs when running as
// root. cleanup removes it all.
func NewRoot(prefix, workDir string) (root string, tmpfs bool, cleanup func(), err error) {
	base, removeBase := workDir, func() {}
	if base == "" {
		if base, removeBase, err = launcher.TempDir(prefix); err != nil {
			return "", false, nil, err
		}
	}
	root = filepath.Join(base, "root")
	unmount, tmpfs, err := launcher.MountScratch(root)
	if err != nil {
		removeBase()
		return "", false, nil, err
	}
	return root, tmpfs, func() {
		unmount()
		removeBase()
	}, nil
}

// Pattern is the content of the fixture's data files.
func Pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}

// CreateFiles creates dir with n empty files file-00000, file-00001, ...
func CreateFiles(dir string, n int) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		fd, err := unix.Open(filepath.Join(dir, fmt.Sprintf("file-%05d", i)), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return err
		}
		unix.Close(fd)
	}
	return nil
}

// PrintServerLog prints the end of a server's output to stderr (after a
// failed run).
func PrintServerLog(log *launcher.LogBuffer) {
	for _, l := range log.Tail(20) {
		fmt.Fprintf(os.Stderr, "  server| %s\n", l)
	}
}

// Header starts a report: its title, the date and the host.
func Header(title string) string {
	var uts unix.Utsname
	unix.Uname(&uts)
	return fmt.Sprintf("# %s\n\n- date: %s\n- host: Linux %s, %s, %d CPUs online\n",
		title, time.Now().UTC().Format(time.RFC3339), unix.ByteSliceToString(uts.Release[:]), cpuModel(), onlineCPUs())
}

// FixtureKind describes the fixture's file system.
func FixtureKind(tmpfs bool) string {
	if tmpfs {
		return "tmpfs"
	}
	return "plain directory (not root: no tmpfs)"
}

// Invocation is the report line naming the script that ran the benchmark
// (from $GOFER_BENCH_INVOCATION), or "".
func Invocation() string {
	inv := os.Getenv("GOFER_BENCH_INVOCATION")
	if inv == "" {
		return ""
	}
	return fmt.Sprintf("- invoked as: `%s`\n", strings.TrimSpace(inv))
}

// Output prints the report and, with out, also writes it there.
func Output(report, out string) error {
	fmt.Print(report)
	if out == "" {
		return nil
	}
	err := os.MkdirAll(filepath.Dir(out), 0o755)
	if err == nil {
		err = os.WriteFile(out, []byte(report), 0o644)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %v", out, err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", out)
	return nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func onlineCPUs() int {
	n, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return runtime.NumCPU()
	}
	count := 0
	for _, part := range strings.Split(strings.TrimSpace(string(n)), ",") {
		lo, hi, found := strings.Cut(part, "-")
		a, _ := strconv.Atoi(lo)
		z := a
		if found {
			z, _ = strconv.Atoi(hi)
		}
		count += z - a + 1
	}
	return count
}
