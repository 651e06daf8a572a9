// Command p9_bench measures 9P2000.L servers through gVisor's real p9 client
// (gvisor.dev/gvisor/pkg/p9): our gofer (dist/gofer --io-fd 3 --mount DIR)
// against diod (diod -f -n -N -c /dev/null -L stderr -r 3 -w 3 -e DIR), side
// by side in one run, interleaved (diod, ours, diod, ours...), each serving
// its end of a fresh socketpair, with client and server pinned to one CPU.
//
// Both servers are asked for the same protocol version (--version, default
// plain "9P2000.L", the only one diod speaks). With --ours-native our gofer
// is also run at the version gVisor's client asks for by default
// (9P2000.L.Google.13), as an extra column.
//
// Then diodload (diod's own load generator) runs against diod in listen mode
// and against dist/gofer --listen, over a Unix socket.
//
// It prints a markdown report and can write it to a file (--out).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/p9"
	"gvisor.dev/gvisor/pkg/unet"

	"gofer/tests/interop/launcher"
)

// Server columns.
const (
	diodCol   = "diod"
	oursCol   = "ours"
	nativeCol = "ours-native"
)

const (
	readFile  = "r.bin"
	seqFile   = "seq.bin"
	seqSize   = 32 << 20
	manyDir   = "many"
	manyCount = 10000
	scratch   = "scratch"
	// diodload attaches aname "ctl" and opens "zero" and "null" in it. diod
	// serves them from its synthetic ctl file system; our gofer serves host
	// files, present both at the root and under ctl/ (whichever the aname
	// resolves to).
	loadZeroSize = 1 << 20
)

type metric struct {
	name   string
	unit   string
	higher bool
	scale  float64
	pct    bool
}

var metrics = []metric{
	{name: "walk (1 component) + getattr + clunk", unit: "µs", scale: 1e-3, pct: true},
	{name: "walk (clone) + lopen + read 4 KiB + clunk", unit: "µs", scale: 1e-3, pct: true},
	{name: "read 4 KiB (open fid)", unit: "µs", scale: 1e-3, pct: true},
	{name: "mkdir + walk + remove", unit: "µs", scale: 1e-3, pct: true},
	{name: "mkdir + unlinkat", unit: "µs", scale: 1e-3, pct: true},
	{name: "readdir, 10,000 entries (clone + lopen + readdir… + clunk)", unit: "ms", scale: 1e-6, pct: true},
	{name: "sequential read, msize requests", unit: "MB/s", higher: true, scale: 1},
	{name: "process start to Rattach", unit: "ms", scale: 1e-6, pct: true},
	{name: "idle RSS of the server (VmRSS)", unit: "MiB", scale: 1.0 / 1024},
	{name: "diodload, read+write msize (ops/s)", unit: "ops/s", higher: true, scale: 1},
	{name: "diodload, read+write msize (read MB/s)", unit: "MB/s", higher: true, scale: 1},
	{name: "diodload --getattr (ops/s)", unit: "ops/s", higher: true, scale: 1},
}

type results map[string]map[string][]float64

// loadErrors[column + loadKey(getattr)]: why diodload failed against a server.
var loadErrors = map[string]string{}

func loadKey(getattr bool) string {
	if getattr {
		return "/getattr"
	}
	return "/io"
}

func (r results) add(server, m string, v float64) {
	if r[server] == nil {
		r[server] = map[string][]float64{}
	}
	r[server][m] = append(r[server][m], v)
}

type config struct {
	cols        []string // columns in run order
	gofer       string
	diod        string
	diodload    string
	root        string
	version     string
	native      string
	msize       uint32
	oursAname   string
	diodAname   string
	diodExtra   []string
	rounds      int
	iters       int
	warmup      int
	starts      int
	idle        time.Duration
	cpu         int
	loadSecs    int
	loadThreads int
	loadRounds  int
}

func main() {
	var (
		only        = flag.String("only", "", "run only this server: ours|diod (default: both)")
		gofer       = flag.String("gofer", "dist/gofer", "path of our gofer")
		diod        = flag.String("diod", "/usr/sbin/diod", "path of diod")
		diodload    = flag.String("diodload", "/usr/sbin/diodload", "path of diodload (empty: skip the diodload rows)")
		version     = flag.String("version", "9P2000.L", "protocol version requested from both servers")
		native      = flag.String("ours-native", "", "also run our gofer at this version (e.g. 9P2000.L.Google.13) as an extra column")
		msize       = flag.Uint("msize", 65536, "msize requested (diod's tools default)")
		oursAname   = flag.String("ours-aname", "", "attach name for our gofer (gVisor's p9 walks it from the served root)")
		diodExtra   = flag.String("diod-flags", "", "extra diod flags (space-separated) for the socketpair runs")
		diodAname   = flag.String("diod-aname", "", "attach name for diod (default: the fixture path, which diod exports)")
		rounds      = flag.Int("rounds", 4, "runs per server; runs alternate (diod, ours, ...)")
		iters       = flag.Int("iters", 2000, "timed iterations per latency metric per run")
		warmup      = flag.Int("warmup", 200, "untimed warm-up iterations per metric per run")
		starts      = flag.Int("starts", 5, "extra start-to-Rattach measurements per run")
		idle        = flag.Duration("idle", time.Second, "idle time before reading the server's RSS")
		cpu         = flag.Int("cpu", 0, "pin client and server to this CPU (-1: no pinning)")
		loadSecs    = flag.Int("load-seconds", 3, "diodload --runtime per run")
		loadThreads = flag.Int("load-threads", 16, "diodload --numthreads")
		loadRounds  = flag.Int("load-rounds", 2, "diodload runs per server and load type (interleaved)")
		workDir     = flag.String("workdir", "", "directory for the fixture (default: a new temp dir)")
		out         = flag.String("out", "", "also write the markdown report to this file")
	)
	flag.Parse()
	if *cpu >= 0 {
		pinSelf(*cpu)
	}
	cfg := config{version: *version, native: *native, msize: uint32(*msize), oursAname: *oursAname,
		rounds: *rounds, iters: *iters, warmup: *warmup, starts: *starts, idle: *idle, cpu: *cpu,
		loadSecs: *loadSecs, loadThreads: *loadThreads, loadRounds: *loadRounds, diodload: *diodload}
	switch *only {
	case "":
		cfg.cols = []string{diodCol, oursCol}
	case diodCol, oursCol:
		cfg.cols = []string{*only}
	default:
		fatalf("--only must be %q or %q", oursCol, diodCol)
	}
	if *native != "" && *only != diodCol {
		cfg.cols = append(cfg.cols, nativeCol)
	}
	var err error
	if cfg.gofer, err = filepath.Abs(*gofer); err != nil {
		fatalf("%v", err)
	}
	cfg.diod = *diod
	for _, c := range cfg.cols {
		p := cfg.gofer
		if c == diodCol {
			p = cfg.diod
		}
		if _, err := os.Stat(p); err != nil {
			fatalf("%s server %s: %v", c, p, err)
		}
	}
	if cfg.diodload != "" {
		if _, err := os.Stat(cfg.diodload); err != nil {
			fatalf("diodload %s: %v (install Debian's diod package, or --diodload '' to skip)", cfg.diodload, err)
		}
	}

	base, removeBase := *workDir, func() {}
	if base == "" {
		if base, removeBase, err = launcher.TempDir("gofer-p9bench-"); err != nil {
			fatalf("%v", err)
		}
	}
	cfg.root = filepath.Join(base, "root")
	unmount, tmpfs, err := launcher.MountScratch(cfg.root)
	if err != nil {
		removeBase()
		fatalf("%v", err)
	}
	cleanup = func() {
		unmount()
		removeBase()
	}
	defer cleanup()
	if err := populate(cfg.root); err != nil {
		fatalf("fixture: %v", err)
	}
	cfg.diodAname = *diodAname
	cfg.diodExtra = strings.Fields(*diodExtra)
	if cfg.diodAname == "" {
		cfg.diodAname = cfg.root
	}

	res := results{}
	negotiated := map[string]string{}
	header := describe(cfg, tmpfs)
	for r := 0; r < cfg.rounds; r++ {
		for _, col := range cfg.cols {
			fmt.Fprintf(os.Stderr, "run %d/%d: %s ... ", r+1, cfg.rounds, col)
			t0 := time.Now()
			v, err := runOnce(cfg, col, res)
			if err != nil {
				fatalf("%s, run %d: %v", col, r+1, err)
			}
			negotiated[col] = v
			fmt.Fprintf(os.Stderr, "%.1fs (version %s)\n", time.Since(t0).Seconds(), v)
		}
	}
	if cfg.diodload != "" {
		for r := 0; r < cfg.loadRounds; r++ {
			for _, col := range cfg.cols {
				if col == nativeCol {
					continue // diodload speaks plain 9P2000.L only
				}
				for _, getattr := range []bool{false, true} {
					fmt.Fprintf(os.Stderr, "diodload %d/%d: %s getattr=%v ... ", r+1, cfg.loadRounds, col, getattr)
					if err := runLoad(cfg, col, getattr, res); err != nil {
						// Reported in the table, not fatal: the latency rows stand.
						fmt.Fprintf(os.Stderr, "FAILED: %v\n", err)
						loadErrors[col+loadKey(getattr)] = err.Error()
						continue
					}
					fmt.Fprintf(os.Stderr, "ok\n")
				}
			}
		}
	}

	var nb strings.Builder
	for _, c := range cfg.cols {
		fmt.Fprintf(&nb, "- negotiated with %s: `%s`\n", c, negotiated[c])
	}
	report := header + nb.String() + "\n" + table(cfg, res)
	fmt.Print(report)
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err == nil {
			err = os.WriteFile(*out, []byte(report), 0o644)
		}
		if err != nil {
			fatalf("writing %s: %v", *out, err)
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", *out)
	}
}

var cleanup = func() {}

func fatalf(format string, args ...any) {
	cleanup()
	fmt.Fprintf(os.Stderr, "p9_bench: "+format+"\n", args...)
	os.Exit(1)
}

// pinSelf re-executes under `taskset -c cpu` unless already on exactly that
// CPU; servers and diodload inherit the affinity.
func pinSelf(cpu int) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil && set.Count() == 1 && set.IsSet(cpu) {
		return
	}
	if os.Getenv("GOFER_BENCH_PINNED") != "" {
		fatalf("still not pinned to CPU %d after re-exec under taskset", cpu)
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		fatalf("taskset not found (needed to pin to CPU %d; use --cpu -1 to skip): %v", cpu, err)
	}
	self, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	os.Setenv("GOFER_BENCH_PINNED", "1")
	args := append([]string{"taskset", "-c", strconv.Itoa(cpu), self}, os.Args[1:]...)
	fatalf("exec taskset: %v", syscall.Exec(taskset, args, os.Environ()))
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}

func populate(root string) error {
	if err := os.WriteFile(filepath.Join(root, readFile), pattern(1<<20), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, seqFile), pattern(seqSize), 0o644); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(root, scratch), 0o777); err != nil {
		return err
	}
	dir := filepath.Join(root, manyDir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for i := 0; i < manyCount; i++ {
		fd, err := unix.Open(filepath.Join(dir, fmt.Sprintf("file-%05d", i)), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return err
		}
		unix.Close(fd)
	}
	// diodload's files, for our gofer (see loadZeroSize).
	for _, d := range []string{root, filepath.Join(root, "ctl")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "zero"), make([]byte, loadZeroSize), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "null"), nil, 0o666); err != nil {
			return err
		}
	}
	return nil
}

// server is one running server process serving one socketpair end.
type server struct {
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	client  *p9.Client
	root    p9.File
	log     *launcher.LogBuffer
	startup time.Duration
}

func serverArgv(cfg config, col string, fd int) []string {
	if col == diodCol {
		return append([]string{cfg.diod, "-f", "-n", "-N", "-c", "/dev/null", "-L", "stderr",
			"-r", strconv.Itoa(fd), "-w", strconv.Itoa(fd), "-e", cfg.root}, cfg.diodExtra...)
	}
	return []string{cfg.gofer, "--io-fd", strconv.Itoa(fd), "--mount", cfg.root}
}

func versionFor(cfg config, col string) string {
	if col == nativeCol {
		return cfg.native
	}
	return cfg.version
}

func anameFor(cfg config, col string) string {
	if col == diodCol {
		return cfg.diodAname
	}
	return cfg.oursAname
}

// startServer starts a server on a fresh socketpair and attaches to it.
func startServer(cfg config, col string, log *launcher.LogBuffer) (*server, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	child := os.NewFile(uintptr(fds[1]), "p9-io")
	argv := serverArgv(cfg, col, 3)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.ExtraFiles = []*os.File{child}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &server{cmd: cmd, done: make(chan struct{}), log: log}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		child.Close()
		unix.Close(fds[0])
		return nil, fmt.Errorf("starting %v: %w", argv, err)
	}
	child.Close()
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	sock, err := unet.NewSocket(fds[0])
	if err != nil {
		unix.Close(fds[0])
		s.kill()
		return nil, err
	}
	type res struct {
		c    *p9.Client
		root p9.File
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := p9.NewClient(sock, cfg.msize, versionFor(cfg, col))
		if err != nil {
			sock.Close()
			ch <- res{err: fmt.Errorf("p9.NewClient(%q): %w", versionFor(cfg, col), err)}
			return
		}
		root, err := attachAs(c, anameFor(cfg, col), p9.UID(os.Geteuid()))
		if err != nil {
			c.Close()
			ch <- res{err: fmt.Errorf("Tattach %q: %w", anameFor(cfg, col), err)}
			return
		}
		ch <- res{c: c, root: root}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			s.kill()
			return nil, r.err
		}
		s.startup = time.Since(t0)
		s.client, s.root = r.c, r.root
		return s, nil
	case <-time.After(20 * time.Second):
		unix.Shutdown(fds[0], unix.SHUT_RDWR)
		s.kill()
		return nil, fmt.Errorf("timed out waiting for Rversion/Rattach")
	}
}

// gVisor's Client.Attach sends uname "" and n_uname NoUID (the sentry does
// not identify users at attach); diod rejects that with EIO ("user lookup"),
// since it resolves the attaching user by n_uname, else by uname. attachAs
// sends the same Tattach with n_uname set, through the client's own
// transport, then clones the attached fid into an ordinary p9.File (the
// client keeps no other state about attached fids).
func attachAs(c *p9.Client, name string, uid p9.UID) (p9.File, error) {
	const rawFID = p9.FID(0x7fff0000) // far above what the client's fid pool hands out
	field := reflect.ValueOf(c).Elem().FieldByName("sendRecv")
	sendRecv := reflect.NewAt(field.Type(), unsafe.Pointer(field.UnsafeAddr())).Elem()
	out := sendRecv.Call([]reflect.Value{
		reflect.ValueOf(&p9.Tattach{FID: rawFID, Auth: p9.Tauth{AttachName: name, AuthenticationFID: p9.NoFID, UID: uid}}),
		reflect.ValueOf(&p9.Rattach{}),
	})
	if err, _ := out[0].Interface().(error); err != nil {
		return nil, err
	}
	raw := clientNewFile(c, rawFID)
	_, root, err := clientFileWalk(raw, nil)
	if cerr := clientFileClose(raw); err == nil && cerr != nil {
		err = fmt.Errorf("Tclunk of the attached fid: %w", cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("Twalk (clone of the attached fid): %w", err)
	}
	return root, nil
}

//go:linkname clientNewFile gvisor.dev/gvisor/pkg/p9.(*Client).newFile
func clientNewFile(c *p9.Client, fid p9.FID) unsafe.Pointer

//go:linkname clientFileWalk gvisor.dev/gvisor/pkg/p9.(*clientFile).Walk
func clientFileWalk(f unsafe.Pointer, names []string) ([]p9.QID, p9.File, error)

//go:linkname clientFileClose gvisor.dev/gvisor/pkg/p9.(*clientFile).Close
func clientFileClose(f unsafe.Pointer) error

func (s *server) kill() {
	if s.cmd.Process != nil {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
	}
}

// stop closes the client (the server sees EOF) and waits for the server to
// exit; both diod in -r/-w mode and our gofer exit when their client goes.
func (s *server) stop() error {
	if s.root != nil {
		s.root.Close()
	}
	s.client.Close()
	select {
	case <-s.done:
		if s.waitErr != nil {
			return fmt.Errorf("server exited uncleanly: %v", s.waitErr)
		}
		return nil
	case <-time.After(10 * time.Second):
		s.kill()
		return fmt.Errorf("server did not exit within 10s after the client closed")
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func timeOp(cfg config, res results, col, name string, op func() error) error {
	for i := 0; i < cfg.warmup; i++ {
		if err := op(); err != nil {
			return fmt.Errorf("%s (warm-up): %w", name, err)
		}
	}
	samples := make([]float64, 0, cfg.iters)
	for i := 0; i < cfg.iters; i++ {
		t := time.Now()
		err := op()
		d := time.Since(t)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		samples = append(samples, float64(d.Nanoseconds()))
	}
	for _, v := range samples {
		res.add(col, name, v)
	}
	return nil
}

func walk1(f p9.File, name string) (p9.File, error) {
	qids, nf, err := f.Walk([]string{name})
	if err != nil {
		return nil, fmt.Errorf("Twalk %q: %w", name, err)
	}
	if len(qids) != 1 {
		nf.Close()
		return nil, fmt.Errorf("Twalk %q: %d qids", name, len(qids))
	}
	return nf, nil
}

// openClone clones f and opens the clone.
func openClone(f p9.File, flags p9.OpenFlags) (p9.File, error) {
	_, nf, err := f.Walk(nil)
	if err != nil {
		return nil, fmt.Errorf("Twalk (clone): %w", err)
	}
	hostFD, _, _, err := nf.Open(flags)
	if hostFD != nil {
		hostFD.Close()
	}
	if err != nil {
		nf.Close()
		return nil, fmt.Errorf("Tlopen: %w", err)
	}
	return nf, nil
}

// runOnce measures one run of one server column; returns the negotiated
// version.
func runOnce(cfg config, col string, res results) (version string, retErr error) {
	log := &launcher.LogBuffer{}
	defer func() {
		if retErr != nil {
			for _, l := range log.Tail(20) {
				fmt.Fprintf(os.Stderr, "  server| %s\n", l)
			}
		}
	}()
	const startName = "process start to Rattach"
	for i := 0; i < cfg.starts; i++ {
		s, err := startServer(cfg, col, log)
		if err != nil {
			return "", err
		}
		res.add(col, startName, float64(s.startup.Nanoseconds()))
		if err := s.stop(); err != nil {
			return "", err
		}
	}
	s, err := startServer(cfg, col, log)
	if err != nil {
		return "", err
	}
	res.add(col, startName, float64(s.startup.Nanoseconds()))
	version = fmt.Sprintf("%d (%s)", s.client.Version(), map[bool]string{true: "9P2000.L", false: fmt.Sprintf("9P2000.L.Google.%d", s.client.Version())}[s.client.Version() == 0])
	defer func() {
		if err := s.stop(); err != nil && retErr == nil {
			retErr = err
		}
	}()
	if cfg.cpu >= 0 {
		got, _ := launcher.StatusField(s.pid(), "Cpus_allowed_list")
		if got != strconv.Itoa(cfg.cpu) {
			return version, fmt.Errorf("server is not pinned: Cpus_allowed_list %q, want %d", got, cfg.cpu)
		}
	}

	if err := timeOp(cfg, res, col, "walk (1 component) + getattr + clunk", func() error {
		f, err := walk1(s.root, readFile)
		if err != nil {
			return err
		}
		_, valid, attr, err := f.GetAttr(p9.AttrMaskAll())
		if err == nil && (!valid.Size || attr.Size != 1<<20) {
			err = fmt.Errorf("Tgetattr: valid %v size %d, want size %d", valid, attr.Size, 1<<20)
		}
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("Tclunk: %w", cerr)
		}
		return err
	}); err != nil {
		return version, err
	}

	file, err := walk1(s.root, readFile)
	if err != nil {
		return version, err
	}
	want := pattern(1 << 20)[8192 : 8192+4096]
	buf := make([]byte, 4096)
	checked := false
	readCheck := func(f p9.File) error {
		n, err := f.ReadAt(buf, 8192)
		if err != nil {
			return fmt.Errorf("Tread: %w", err)
		}
		if n != len(buf) {
			return fmt.Errorf("Tread: %d bytes, want %d", n, len(buf))
		}
		if !checked {
			if string(buf) != string(want) {
				return fmt.Errorf("Tread: wrong bytes at offset 8192")
			}
			checked = true
		}
		return nil
	}
	if err := timeOp(cfg, res, col, "walk (clone) + lopen + read 4 KiB + clunk", func() error {
		f, err := openClone(file, p9.ReadOnly)
		if err != nil {
			return err
		}
		err = readCheck(f)
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("Tclunk: %w", cerr)
		}
		return err
	}); err != nil {
		return version, err
	}
	rf, err := openClone(file, p9.ReadOnly)
	if err != nil {
		return version, err
	}
	if err := timeOp(cfg, res, col, "read 4 KiB (open fid)", func() error { return readCheck(rf) }); err != nil {
		return version, err
	}
	rf.Close()
	file.Close()

	dir, err := walk1(s.root, scratch)
	if err != nil {
		return version, err
	}
	// diod answers Tunlinkat with EOPNOTSUPP: the common row is Tmkdir +
	// Twalk + Tremove; Tmkdir + Tunlinkat is measured where supported.
	if err := timeOp(cfg, res, col, "mkdir + walk + remove", func() error {
		if _, err := dir.Mkdir("d", 0o755, p9.UID(os.Geteuid()), p9.GID(os.Getegid())); err != nil {
			return fmt.Errorf("Tmkdir: %w", err)
		}
		d, err := walk1(dir, "d")
		if err != nil {
			return err
		}
		if err := d.(interface{ Remove() error }).Remove(); err != nil {
			return fmt.Errorf("Tremove: %w", err)
		}
		return nil
	}); err != nil {
		return version, err
	}
	if col != diodCol {
		if err := timeOp(cfg, res, col, "mkdir + unlinkat", func() error {
			if _, err := dir.Mkdir("d", 0o755, p9.UID(os.Geteuid()), p9.GID(os.Getegid())); err != nil {
				return fmt.Errorf("Tmkdir: %w", err)
			}
			if err := dir.UnlinkAt("d", unix.AT_REMOVEDIR); err != nil {
				return fmt.Errorf("Tunlinkat: %w", err)
			}
			return nil
		}); err != nil {
			return version, err
		}
	}
	dir.Close()

	// Sequential reads of the 32 MiB file; the client splits each ReadAt
	// into msize-sized Treads.
	seq, err := walk1(s.root, seqFile)
	if err != nil {
		return version, err
	}
	sf, err := openClone(seq, p9.ReadOnly)
	if err != nil {
		return version, err
	}
	big := make([]byte, 1<<20)
	passes := max(3, cfg.iters/200)
	for p := -1; p < passes; p++ {
		t := time.Now()
		for off := 0; off < seqSize; off += len(big) {
			n, err := sf.ReadAt(big, uint64(off))
			if err != nil || n != len(big) {
				return version, fmt.Errorf("sequential read at %d: n=%d err=%v", off, n, err)
			}
		}
		if p >= 0 {
			res.add(col, "sequential read, msize requests", float64(seqSize)/1e6/time.Since(t).Seconds())
		}
	}
	sf.Close()
	seq.Close()

	// Full listings: clone, lopen, Treaddir until empty, clunk.
	many, err := walk1(s.root, manyDir)
	if err != nil {
		return version, err
	}
	count := cfg.msize - 64
	listings := max(5, cfg.iters/100)
	for i := -2; i < listings; i++ {
		t := time.Now()
		d, err := openClone(many, p9.ReadOnly)
		if err != nil {
			return version, err
		}
		n := 0
		off := uint64(0)
		for {
			ds, err := d.Readdir(off, count)
			if err != nil {
				return version, fmt.Errorf("Treaddir at %d: %w", off, err)
			}
			if len(ds) == 0 {
				break
			}
			n += len(ds)
			off = ds[len(ds)-1].Offset
		}
		d.Close()
		el := time.Since(t)
		if n < manyCount || n > manyCount+2 {
			return version, fmt.Errorf("listing returned %d entries, want %d (+ . and ..)", n, manyCount)
		}
		if i >= 0 {
			res.add(col, "readdir, 10,000 entries (clone + lopen + readdir… + clunk)", float64(el.Nanoseconds()))
		}
	}
	many.Close()

	runtime.GC()
	time.Sleep(cfg.idle)
	v, err := launcher.StatusField(s.pid(), "VmRSS")
	if err != nil {
		return version, err
	}
	kib, err := strconv.Atoi(strings.TrimSuffix(v, " kB"))
	if err != nil {
		return version, err
	}
	res.add(col, "idle RSS of the server (VmRSS)", float64(kib))
	return version, nil
}

var loadRE = regexp.MustCompile(`(\d+) ops/s, (\d+) rMB/s, (\d+) wMB/s`)

// runLoad starts a listening server on a Unix socket, runs diodload against
// it and records its figures. diodload prints per-thread failures but exits
// 0, so any other output line is an error.
func runLoad(cfg config, col string, getattr bool, res results) error {
	dir, err := os.MkdirTemp("", "gofer-p9load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s.sock")
	var argv []string
	if col == diodCol {
		argv = []string{cfg.diod, "-f", "-n", "-N", "-c", "/dev/null", "-L", "stderr", "-l", sock, "-e", "ctl", "-e", cfg.root}
	} else {
		argv = []string{cfg.gofer, "--listen", "unix:" + sock, "--mount", cfg.root}
	}
	log := &launcher.LogBuffer{}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %v: %w", argv, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	dump := func(err error) error {
		for _, l := range log.Tail(20) {
			fmt.Fprintf(os.Stderr, "  server| %s\n", l)
		}
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			return dump(fmt.Errorf("server exited before listening"))
		default:
		}
		if time.Now().After(deadline) {
			return dump(fmt.Errorf("server not listening on %s after 20s", sock))
		}
		time.Sleep(20 * time.Millisecond)
	}
	largs := []string{"-s", sock, "-m", strconv.Itoa(int(cfg.msize)), "-n", strconv.Itoa(cfg.loadThreads), "-r", strconv.Itoa(cfg.loadSecs)}
	if getattr {
		largs = append(largs, "-g")
	}
	lc := exec.Command(cfg.diodload, largs...)
	outp, _ := lc.StderrPipe()
	lc.Stdout = os.Stderr
	if err := lc.Start(); err != nil {
		return err
	}
	var lines []string
	sc := bufio.NewScanner(outp)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := lc.Wait(); err != nil {
		return dump(fmt.Errorf("diodload %v: %v; output: %q", largs, err, lines))
	}
	var m []string
	for _, l := range lines {
		if mm := loadRE.FindStringSubmatch(l); mm != nil {
			m = mm
		} else if strings.TrimSpace(l) != "" {
			return dump(fmt.Errorf("diodload %v reported: %q", largs, l))
		}
	}
	if m == nil {
		return dump(fmt.Errorf("diodload %v: no summary line in %q", largs, lines))
	}
	ops, _ := strconv.ParseFloat(m[1], 64)
	rmb, _ := strconv.ParseFloat(m[2], 64)
	if ops <= 0 {
		return dump(fmt.Errorf("diodload %v: 0 ops/s (%q)", largs, lines))
	}
	if getattr {
		res.add(col, "diodload --getattr (ops/s)", ops)
	} else {
		res.add(col, "diodload, read+write msize (ops/s)", ops)
		res.add(col, "diodload, read+write msize (read MB/s)", rmb*1.048576) // MiB/s -> MB/s
	}
	return nil
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[int(p*float64(len(s)-1)+0.5)]
}

func format(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func cell(m metric, samples []float64, col string) string {
	if len(samples) == 0 {
		if strings.HasPrefix(m.name, "diodload") {
			if e, ok := loadErrors[col+loadKey(strings.Contains(m.name, "getattr"))]; ok {
				if len(e) > 160 {
					e = e[:160] + "…"
				}
				return "fails: " + strings.NewReplacer("|", "\\|", "\n", " ").Replace(e)
			}
		}
		return "–"
	}
	med := percentile(samples, 0.5) * m.scale
	if !m.pct {
		return fmt.Sprintf("%s %s", format(med), m.unit)
	}
	return fmt.Sprintf("%s %s (p90 %s)", format(med), m.unit, format(percentile(samples, 0.9)*m.scale))
}

func ratio(m metric, ours, ref []float64) string {
	if len(ref) == 0 || len(ours) == 0 {
		return "–"
	}
	r := percentile(ours, 0.5) / percentile(ref, 0.5)
	if m.higher {
		return fmt.Sprintf("%.2f× (higher is better)", r)
	}
	return fmt.Sprintf("%.2f× (lower is better)", r)
}

func table(cfg config, res results) string {
	var b strings.Builder
	native := false
	for _, c := range cfg.cols {
		native = native || c == nativeCol
	}
	b.WriteString("| metric | diod | ours | ratio (ours/diod) |")
	if native {
		fmt.Fprintf(&b, " ours at %s | ratio (ours-native/diod) |", cfg.native)
	}
	b.WriteString("\n| --- | ---: | ---: | ---: |")
	if native {
		b.WriteString(" ---: | ---: |")
	}
	b.WriteString("\n")
	for _, m := range metrics {
		ref, ours := res[diodCol][m.name], res[oursCol][m.name]
		name := m.name
		if m.pct {
			name += ", median"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |", name, cell(m, ref, diodCol), cell(m, ours, oursCol), ratio(m, ours, ref))
		if native {
			nat := res[nativeCol][m.name]
			fmt.Fprintf(&b, " %s | %s |", cell(m, nat, nativeCol), ratio(m, nat, ref))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func describe(cfg config, tmpfs bool) string {
	var b strings.Builder
	var uts unix.Utsname
	unix.Uname(&uts)
	fmt.Fprintf(&b, "# 9P benchmark: ours vs diod\n\n")
	fmt.Fprintf(&b, "- date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- host: Linux %s, %s, %d CPUs online\n", unix.ByteSliceToString(uts.Release[:]), cpuModel(), onlineCPUs())
	fs := "tmpfs"
	if !tmpfs {
		fs = "plain directory (not root: no tmpfs)"
	}
	fmt.Fprintf(&b, "- fixture: %s; client: gVisor p9.Client over a socketpair, msize %d, version requested %q (both servers)", fs, cfg.msize, cfg.version)
	if cfg.native != "" {
		fmt.Fprintf(&b, "; ours also at %q", cfg.native)
	}
	b.WriteString("\n")
	pin := "not pinned"
	if cfg.cpu >= 0 {
		pin = fmt.Sprintf("client, servers and diodload pinned to CPU %d (taskset -c %d)", cfg.cpu, cfg.cpu)
	}
	fmt.Fprintf(&b, "- %s; %d interleaved runs per server (%s); %d timed iterations per latency metric per run after %d warm-up\n",
		pin, cfg.rounds, strings.Join(cfg.cols, ", "), cfg.iters, cfg.warmup)
	if cfg.diodload != "" {
		fmt.Fprintf(&b, "- diodload: `%s -s SOCK -m %d -n %d -r %d [-g]`, %d runs per server and load type; diod listens with `-l SOCK -e ctl -e ROOT` (synthetic ctl:zero/ctl:null), ours with `--listen unix:SOCK --mount ROOT` (1 MiB tmpfs file zero, empty file null)\n",
			cfg.diodload, cfg.msize, cfg.loadThreads, cfg.loadSecs, cfg.loadRounds)
	}
	if inv := os.Getenv("GOFER_BENCH_INVOCATION"); inv != "" {
		fmt.Fprintf(&b, "- invoked as: `%s`\n", strings.TrimSpace(inv))
	}
	for _, c := range cfg.cols {
		fmt.Fprintf(&b, "- %s server command: `%s` (aname %q)\n", c, strings.Join(serverArgv(cfg, c, 3), " "), anameFor(cfg, c))
	}
	return b.String()
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
