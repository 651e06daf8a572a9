// Package launcher starts a lisafs gofer (ours, dist/gofer, or gVisor's
// reference gofer, runsc-stock) on one end of a Unix socketpair and connects
// gVisor's real lisafs client (gvisor.dev/gvisor/pkg/lisafs) to the other end.
//
// It is shared by the interop test (tests/interop/lisafs_interop) and the
// benchmark (bench/lisafs) so that both drive the two servers identically.
// Its server process handling (Process, Socketpair, Handshake), scratch
// directories and LogBuffer also serve the 9P interop test and benchmark
// (tests/interop/p9_interop, bench/p9).
package launcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/lisafs"
)

// Server kinds.
const (
	Ours = "ours"
	Ref  = "ref"
)

// Options describes one gofer to launch.
type Options struct {
	// Server is Ours or Ref.
	Server string
	// OursBin is the path of our gofer (dist/gofer).
	OursBin string
	// RefBin is the path of the reference runsc binary (runsc-stock).
	RefBin string

	// MountDir is the absolute host directory served as the mount root.
	MountDir string
	// ReadOnly serves MountDir read-only (":ro" for ours, root.readonly for ref).
	ReadOnly bool
	// DonateMountFD asks the server to donate a host FD of the mount point on
	// Mount (--donate-mount-fd for ours, --directfs=true for the reference).
	DonateMountFD bool
	// HostUDS is none|open|create|all ("" means the server default, none).
	HostUDS string
	// HostFifo is none|open ("" means the server default, none).
	HostFifo string
	// XattrUser enables our user.* xattr extension (ignored by the reference).
	XattrUser bool
	// Protocol, if set, is our gofer's --protocol (lisafs|p9; default: it
	// detects the protocol from the client's first bytes). The reference
	// serves lisafs only.
	Protocol string
	// Debug turns on server debug logging.
	Debug bool
	// Today launches the server for today's gVisor client: ours with
	// `--lisafs today`; for the reference, RefBin is today's runsc
	// (runsc-latest), whose gofer command also wants a container ID and a
	// gofer-to-host RPC socket (--rpc-fd, one end of a socketpair that
	// nobody answers: with --setup-root=false it is closed unused).
	Today bool

	// CPU, if >= 0, runs the server under `taskset -c CPU`.
	CPU int
	// Log receives the server's stderr (and stdout). May be nil.
	Log io.Writer
}

// Gofer is a running gofer with a mounted lisafs client.
type Gofer struct {
	Opts Options
	// Process is the server (nil until it has started).
	*Process
	Client *lisafs.Client
	// Root is the root inode returned by Mount.
	Root lisafs.Inode
	// MountHostFD is the host FD donated on Mount, or -1.
	MountHostFD int
	// MountLatency is the time from starting the process to the Mount reply.
	MountLatency time.Duration

	bundleDir    string
	removeBundle func()
	mountsR      *os.File
}

// Args returns the argv (including the binary and any taskset prefix) for
// launching the server described by o. The I/O socket is always fd 3 for ours
// and fd 5 for the reference (fds 3/4 are the spec file and mounts pipe).
func (o *Options) Args(bundleDir string) []string {
	var args []string
	if o.CPU >= 0 {
		args = append(args, "taskset", "-c", strconv.Itoa(o.CPU))
	}
	switch o.Server {
	case Ours:
		mount := o.MountDir
		if o.ReadOnly {
			mount += ":ro"
		}
		args = append(args, o.OursBin, "--io-fd", "3", "--mount", mount)
		if o.Protocol != "" {
			args = append(args, "--protocol", o.Protocol)
		}
		if o.DonateMountFD {
			args = append(args, "--donate-mount-fd")
		}
		if o.HostUDS != "" {
			args = append(args, "--host-uds", o.HostUDS)
		}
		if o.HostFifo != "" {
			args = append(args, "--host-fifo", o.HostFifo)
		}
		if o.XattrUser {
			args = append(args, "--xattr-user")
		}
		if o.Today {
			args = append(args, "--lisafs", "today")
		}
		if o.Debug {
			args = append(args, "--log-level", "debug")
		}
	case Ref:
		args = append(args, o.RefBin, "--TESTONLY-unsafe-nonroot", "--network=none",
			"--directfs="+strconv.FormatBool(o.DonateMountFD))
		if o.HostUDS != "" {
			args = append(args, "--host-uds="+o.HostUDS)
		}
		if o.HostFifo != "" {
			args = append(args, "--host-fifo="+o.HostFifo)
		}
		if o.Debug {
			args = append(args, "--debug", "--debug-log=/dev/stderr")
		}
		args = append(args, "gofer", "--bundle", bundleDir, "--spec-fd=3", "--mounts-fd=4",
			"--io-fds=5", "--gofer-mount-confs=lisafs:none", "--apply-caps=false", "--setup-root=false")
		if o.Today {
			args = append(args, "--rpc-fd=6", "gofer-interop")
		}
	}
	return args
}

// CommandLine renders Args as a shell-like string (for reports).
func (o *Options) CommandLine() string {
	bundle := "<bundle>"
	if o.Server != Ref {
		bundle = ""
	}
	return strings.Join(o.Args(bundle), " ")
}

// refSpec is the minimal OCI spec the reference gofer accepts.
func refSpec(root string, readonly bool) ([]byte, error) {
	spec := map[string]any{
		"ociVersion": "1.0.0",
		"process": map[string]any{
			"args": []string{"/bin/true"},
			"cwd":  "/",
			"user": map[string]any{"uid": 0, "gid": 0},
		},
		"root":     map[string]any{"path": root, "readonly": readonly},
		"hostname": "gofer-test",
		"mounts":   []any{},
	}
	return json.MarshalIndent(spec, "", "  ")
}

// Start launches the gofer and mounts it with lisafs.NewClient. Channels are
// not started; call StartChannels for that.
func Start(o Options) (*Gofer, error) {
	if !filepath.IsAbs(o.MountDir) {
		return nil, fmt.Errorf("mount dir %q is not absolute", o.MountDir)
	}
	if o.Server != Ours && o.Server != Ref {
		return nil, fmt.Errorf("unknown server %q (want %q or %q)", o.Server, Ours, Ref)
	}
	if o.Server == Ours && o.OursBin == "" {
		return nil, fmt.Errorf("no path for our gofer")
	}
	g := &Gofer{Opts: o, MountHostFD: -1}
	if err := g.start(); err != nil {
		g.Kill()
		return nil, err
	}
	return g, nil
}

func (g *Gofer) start() error {
	o := &g.Opts
	// Files to pass to the child; our copies are closed once it has started.
	var extra []*os.File
	defer func() {
		for _, f := range extra {
			f.Close()
		}
	}()
	if o.Server == Ref {
		dir, remove, err := TempDir("gofer-ref-bundle-")
		if err != nil {
			return err
		}
		g.bundleDir, g.removeBundle = dir, remove
		spec, err := refSpec(o.MountDir, o.ReadOnly)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), spec, 0o644); err != nil {
			return err
		}
		specF, err := os.Open(filepath.Join(dir, "config.json"))
		if err != nil {
			return err
		}
		extra = append(extra, specF) // fd 3: spec
		mountsR, mountsW, err := os.Pipe()
		if err != nil {
			return err
		}
		g.mountsR = mountsR
		extra = append(extra, mountsW) // fd 4: mounts JSON is written here
	}

	sock, child, err := Socketpair()
	if err != nil {
		return err
	}
	extra = append(extra, child) // fd 3 (ours) or 5 (ref)
	if o.Server == Ref && o.Today {
		rpc, rpcChild, err := Socketpair()
		if err != nil {
			sock.Close()
			return err
		}
		defer rpc.Close()
		extra = append(extra, rpcChild) // fd 6: today's --rpc-fd
	}

	argv := o.Args(g.bundleDir)
	start := time.Now()
	if g.Process, err = StartProcess(argv, extra, o.Log); err != nil {
		sock.Close()
		return err
	}
	if g.mountsR != nil {
		// The reference writes the resolved mounts list here; drain it.
		go io.Copy(io.Discard, g.mountsR)
	}
	// Close our copies of the child's fds so that each side sees the other
	// hang up if it dies.
	for _, f := range extra {
		f.Close()
	}
	extra = nil

	type mount struct {
		c    *lisafs.Client
		root lisafs.Inode
		fd   int
	}
	m, err := Handshake(sock, 20*time.Second, func() (mount, error) {
		c, root, fd, err := lisafs.NewClient(sock) // takes ownership of sock
		return mount{c, root, fd}, err
	})
	g.MountLatency = time.Since(start)
	switch {
	case errors.Is(err, ErrTimedOut):
		return fmt.Errorf("timed out waiting for the Mount reply (server: %s)", g.ExitStatusAfter(200*time.Millisecond))
	case err != nil:
		return fmt.Errorf("lisafs.NewClient (Mount): %w (server: %s)", err, g.ExitStatusAfter(200*time.Millisecond))
	}
	g.Client, g.Root, g.MountHostFD = m.c, m.root, m.fd
	return nil
}

// StartChannels starts the flipcall channels (shared-memory fast path).
func (g *Gofer) StartChannels() error {
	return g.Client.StartChannels()
}

// Close closes the client connection and waits for the server to exit. It
// returns an error if the server does not exit cleanly (status 0) within the
// timeout; in that case the server is killed.
func (g *Gofer) Close(timeout time.Duration) error {
	if g.MountHostFD >= 0 {
		unix.Close(g.MountHostFD)
		g.MountHostFD = -1
	}
	if g.Client != nil {
		g.Client.Close()
		g.Client = nil
	}
	defer g.cleanup()
	return g.AwaitExit(timeout, "server")
}

// Kill kills the server and cleans up.
func (g *Gofer) Kill() {
	if g.Client != nil {
		g.Client.Close()
		g.Client = nil
	}
	if g.Process != nil {
		g.Process.Kill()
	}
	g.cleanup()
}

func (g *Gofer) cleanup() {
	if g.mountsR != nil {
		g.mountsR.Close()
		g.mountsR = nil
	}
	if g.removeBundle != nil {
		g.removeBundle()
		g.removeBundle = nil
	}
}

// ProcTree is pid and its descendants.
func ProcTree(pid int) []int {
	pids := []int{pid}
	for i := 0; i < len(pids); i++ {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pids[i]))
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					pids = append(pids, c)
				}
			}
		}
	}
	return pids
}

// StatusField returns a field of /proc/PID/status (e.g. "VmRSS").
func StatusField(pid int, field string) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && string(k) == field {
			return strings.TrimSpace(string(v)), nil
		}
	}
	return "", fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// RSSKiB returns the summed VmRSS (KiB) of the server process and its
// descendants (in case the server binary is a wrapper that forks).
func (g *Gofer) RSSKiB() (int, error) {
	total := 0
	for _, pid := range ProcTree(g.Pid()) {
		n, err := VmRSSKiB(pid)
		if err != nil {
			if pid == g.Pid() {
				return 0, err
			}
			continue
		}
		total += n
	}
	return total, nil
}

// Scratch dirs still to clean up, also on SIGINT/SIGTERM.
var (
	scratchMu   sync.Mutex
	scratchDirs = map[string]bool{}
	sigOnce     sync.Once
)

// MountScratch prepares dir as a fixture root: it creates it and, when
// running as root, mounts a fresh tmpfs on it. The returned cleanup unmounts
// it (if mounted) and removes dir; it also runs if the process is
// interrupted.
func MountScratch(dir string) (cleanup func(), tmpfs bool, err error) {
	return scratch(dir, true)
}

// TempDir creates a temporary directory that is removed by the returned
// cleanup, or on SIGINT/SIGTERM.
func TempDir(prefix string) (string, func(), error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	cleanup, _, err := scratch(dir, false)
	return dir, cleanup, err
}

func scratch(dir string, mount bool) (cleanup func(), tmpfs bool, err error) {
	sigOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			sig := <-ch
			scratchMu.Lock()
			dirs := make([]string, 0, len(scratchDirs))
			for d := range scratchDirs {
				dirs = append(dirs, d)
			}
			// Children (mount points) before their parents.
			sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
			for _, d := range dirs {
				removeScratch(d)
			}
			fmt.Fprintf(os.Stderr, "interrupted (%v): fixtures removed\n", sig)
			os.Exit(130)
		}()
	})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, err
	}
	if mount && os.Geteuid() == 0 {
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1g,mode=0755"); err != nil {
			return nil, false, fmt.Errorf("mount tmpfs on %s: %w", dir, err)
		}
		tmpfs = true
	}
	scratchMu.Lock()
	scratchDirs[dir] = true
	scratchMu.Unlock()
	return func() {
		scratchMu.Lock()
		defer scratchMu.Unlock()
		if scratchDirs[dir] {
			removeScratch(dir)
			delete(scratchDirs, dir)
		}
	}, tmpfs, nil
}

// removeScratch unmounts dir if it is a mount point and removes it.
func removeScratch(dir string) {
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && err != unix.EINVAL {
		fmt.Fprintf(os.Stderr, "warning: unmount %s: %v\n", dir, err)
	}
	os.RemoveAll(dir)
}

// LogBuffer is a goroutine-safe buffer for a server's output.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// Tail returns the last n lines written.
func (b *LogBuffer) Tail(n int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimRight(b.b.String(), "\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
