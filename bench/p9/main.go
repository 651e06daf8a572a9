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
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/p9"

	"gofer/bench/internal/benchkit"
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

var metrics = []benchkit.Metric{
	{Name: "walk (1 component) + getattr + clunk", Unit: "µs", Scale: 1e-3, Pct: true},
	{Name: "walk (clone) + lopen + read 4 KiB + clunk", Unit: "µs", Scale: 1e-3, Pct: true},
	{Name: "read 4 KiB (open fid)", Unit: "µs", Scale: 1e-3, Pct: true},
	{Name: "mkdir + walk + remove", Unit: "µs", Scale: 1e-3, Pct: true},
	{Name: "mkdir + unlinkat", Unit: "µs", Scale: 1e-3, Pct: true},
	{Name: "readdir, 10,000 entries (clone + lopen + readdir… + clunk)", Unit: "ms", Scale: 1e-6, Pct: true},
	{Name: "sequential read, msize requests", Unit: "MB/s", Higher: true, Scale: 1},
	{Name: "process start to Rattach", Unit: "ms", Scale: 1e-6, Pct: true},
	{Name: "idle RSS of the server (VmRSS)", Unit: "MiB", Scale: 1.0 / 1024},
	{Name: "diodload, read+write msize (ops/s)", Unit: "ops/s", Higher: true, Scale: 1},
	{Name: "diodload, read+write msize (read MB/s)", Unit: "MB/s", Higher: true, Scale: 1},
	{Name: "diodload --getattr (ops/s)", Unit: "ops/s", Higher: true, Scale: 1},
}

// The concurrency rows: aggregate ops/s of 1, 2, 4 and 8 connections.
func init() { metrics = append(metrics, benchkit.ConcurrentMetrics(concGetattr, concRead)...) }

// loadErrors[column + loadKey(getattr)]: why diodload failed against a server.
var loadErrors = map[string]string{}

func loadKey(getattr bool) string {
	if getattr {
		return "/getattr"
	}
	return "/io"
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
	serverCPU   int // the servers' CPU (-1: not pinned); == cpu unless split
	concTime    time.Duration
	concWarmup  int
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
		rows        = flag.String("metrics", "", "run only the rows whose name matches this regexp (e.g. readdir, or 'concurrent' for the concurrency rows)")
		srvCPU      = flag.Int("server-cpu", -2, "pin the servers to this CPU instead (the \"split\" mode: --cpu 0 --server-cpu 1)")
		concT       = flag.Duration("conc-time", 500*time.Millisecond, "timed span of each concurrency level (concurrent ... xN rows) per run")
		concW       = flag.Int("conc-warmup", 2000, "untimed operations per connection before each concurrency level")
	)
	flag.Parse()
	if err := benchkit.Select(*rows); err != nil {
		fatalf("--metrics: %v", err)
	}
	if *cpu >= 0 {
		if err := benchkit.PinSelf(*cpu); err != nil {
			fatalf("%v", err)
		}
	}
	cfg := config{version: *version, native: *native, msize: uint32(*msize), oursAname: *oursAname,
		rounds: *rounds, iters: *iters, warmup: *warmup, starts: *starts, idle: *idle, cpu: *cpu,
		serverCPU: *srvCPU, concTime: *concT, concWarmup: *concW,
		loadSecs: *loadSecs, loadThreads: *loadThreads, loadRounds: *loadRounds, diodload: *diodload}
	if cfg.serverCPU == -2 {
		cfg.serverCPU = cfg.cpu
	}
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

	root, tmpfs, removeRoot, err := benchkit.NewRoot("gofer-p9bench-", *workDir)
	if err != nil {
		fatalf("%v", err)
	}
	cfg.root = root
	cleanup = removeRoot
	defer cleanup()
	if err := populate(cfg.root); err != nil {
		fatalf("fixture: %v", err)
	}
	cfg.diodAname = *diodAname
	cfg.diodExtra = strings.Fields(*diodExtra)
	if cfg.diodAname == "" {
		cfg.diodAname = cfg.root
	}

	res := benchkit.Results{}
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
			if err := runConcurrent(cfg, col, res); err != nil {
				fatalf("%s, run %d, concurrency rows: %v", col, r+1, err)
			}
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
					if !benchkit.Wanted(map[bool]string{false: "diodload, read+write msize (ops/s)", true: "diodload --getattr (ops/s)"}[getattr]) {
						continue
					}
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
	if err := benchkit.Output(header+nb.String()+"\n"+table(cfg).Report(res), *out); err != nil {
		fatalf("%v", err)
	}
}

var cleanup = func() {}

func fatalf(format string, args ...any) {
	cleanup()
	fmt.Fprintf(os.Stderr, "p9_bench: "+format+"\n", args...)
	os.Exit(1)
}

func populate(root string) error {
	if err := os.WriteFile(filepath.Join(root, readFile), benchkit.Pattern(1<<20), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, seqFile), benchkit.Pattern(seqSize), 0o644); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(root, scratch), 0o777); err != nil {
		return err
	}
	if err := benchkit.CreateFiles(filepath.Join(root, manyDir), manyCount); err != nil {
		return err
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
	*launcher.Process
	client  *p9.Client
	root    p9.File
	startup time.Duration
}

// pinArgv prefixes a server's argv in the split mode (servers on their own
// CPU); otherwise they inherit the client's affinity.
func pinArgv(cfg config) []string {
	if cfg.serverCPU >= 0 && cfg.serverCPU != cfg.cpu {
		return []string{"taskset", "-c", strconv.Itoa(cfg.serverCPU)}
	}
	return nil
}

func serverArgv(cfg config, col string, fd int) []string {
	if col == diodCol {
		return append(append(pinArgv(cfg), cfg.diod, "-f", "-n", "-N", "-c", "/dev/null", "-L", "stderr",
			"-r", strconv.Itoa(fd), "-w", strconv.Itoa(fd), "-e", cfg.root), cfg.diodExtra...)
	}
	return append(pinArgv(cfg), cfg.gofer, "--io-fd", strconv.Itoa(fd), "--mount", cfg.root)
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
	sock, child, err := launcher.Socketpair()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	p, err := launcher.StartProcess(serverArgv(cfg, col, 3), []*os.File{child}, log)
	child.Close()
	if err != nil {
		sock.Close()
		return nil, err
	}
	s := &server{Process: p}
	type attached struct {
		c    *p9.Client
		root p9.File
	}
	r, err := launcher.Handshake(sock, 20*time.Second, func() (attached, error) {
		c, err := p9.NewClient(sock, cfg.msize, versionFor(cfg, col))
		if err != nil {
			sock.Close()
			return attached{}, fmt.Errorf("p9.NewClient(%q): %w", versionFor(cfg, col), err)
		}
		root, err := attachAs(c, anameFor(cfg, col), p9.UID(os.Geteuid()))
		if err != nil {
			c.Close()
			return attached{}, fmt.Errorf("Tattach %q: %w", anameFor(cfg, col), err)
		}
		return attached{c, root}, nil
	})
	if err != nil {
		s.Kill()
		if errors.Is(err, launcher.ErrTimedOut) {
			err = fmt.Errorf("timed out waiting for Rversion/Rattach")
		}
		return nil, err
	}
	s.startup = time.Since(t0)
	s.client, s.root = r.c, r.root
	return s, nil
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

// stop closes the client (the server sees EOF) and waits for the server to
// exit; both diod in -r/-w mode and our gofer exit when their client goes.
func (s *server) stop() error {
	if s.root != nil {
		s.root.Close()
	}
	s.client.Close()
	return s.AwaitExit(10*time.Second, "server")
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
func runOnce(cfg config, col string, res benchkit.Results) (version string, retErr error) {
	log := &launcher.LogBuffer{}
	defer func() {
		if retErr != nil {
			benchkit.PrintServerLog(log)
		}
	}()
	const startName = "process start to Rattach"
	for i := 0; i < cfg.starts; i++ {
		s, err := startServer(cfg, col, log)
		if err != nil {
			return "", err
		}
		res.Add(col, startName, float64(s.startup.Nanoseconds()))
		if err := s.stop(); err != nil {
			return "", err
		}
	}
	s, err := startServer(cfg, col, log)
	if err != nil {
		return "", err
	}
	res.Add(col, startName, float64(s.startup.Nanoseconds()))
	version = fmt.Sprintf("%d (%s)", s.client.Version(), map[bool]string{true: "9P2000.L", false: fmt.Sprintf("9P2000.L.Google.%d", s.client.Version())}[s.client.Version() == 0])
	defer func() {
		if err := s.stop(); err != nil && retErr == nil {
			retErr = err
		}
	}()
	if cfg.serverCPU >= 0 {
		if err := benchkit.CheckPinned(s.Process, cfg.serverCPU); err != nil {
			return version, err
		}
	}
	benchkit.ServerPID = s.Pid()
	defer func() { benchkit.ServerPID = 0 }()

	if err := res.Time(col, "walk (1 component) + getattr + clunk", cfg.warmup, cfg.iters, func() error {
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
	want := benchkit.Pattern(1 << 20)[8192 : 8192+4096]
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
	if err := res.Time(col, "walk (clone) + lopen + read 4 KiB + clunk", cfg.warmup, cfg.iters, func() error {
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
	if err := res.Time(col, "read 4 KiB (open fid)", cfg.warmup, cfg.iters, func() error { return readCheck(rf) }); err != nil {
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
	if err := res.Time(col, "mkdir + walk + remove", cfg.warmup, cfg.iters, func() error {
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
		if err := res.Time(col, "mkdir + unlinkat", cfg.warmup, cfg.iters, func() error {
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
	if err := res.Throughput(col, "sequential read, msize requests", max(3, cfg.iters/200), seqSize, func() error {
		for off := 0; off < seqSize; off += len(big) {
			n, err := sf.ReadAt(big, uint64(off))
			if err != nil || n != len(big) {
				return fmt.Errorf("sequential read at %d: n=%d err=%v", off, n, err)
			}
		}
		return nil
	}); err != nil {
		return version, err
	}
	sf.Close()
	seq.Close()

	// Full listings: clone, lopen, Treaddir until empty, clunk.
	many, err := walk1(s.root, manyDir)
	if err != nil {
		return version, err
	}
	count := cfg.msize - 64
	if err := res.Time(col, "readdir, 10,000 entries (clone + lopen + readdir… + clunk)", 2, max(5, cfg.iters/100), func() error {
		d, err := openClone(many, p9.ReadOnly)
		if err != nil {
			return err
		}
		n := 0
		off := uint64(0)
		for {
			ds, err := d.Readdir(off, count)
			if err != nil {
				return fmt.Errorf("Treaddir at %d: %w", off, err)
			}
			if len(ds) == 0 {
				break
			}
			n += len(ds)
			off = ds[len(ds)-1].Offset
		}
		d.Close()
		if n < manyCount || n > manyCount+2 {
			return fmt.Errorf("listing returned %d entries, want %d (+ . and ..)", n, manyCount)
		}
		return nil
	}); err != nil {
		return version, err
	}
	many.Close()

	if !benchkit.Wanted("idle RSS of the server (VmRSS)") {
		return version, nil
	}
	runtime.GC()
	time.Sleep(cfg.idle)
	kib, err := launcher.VmRSSKiB(s.Pid())
	if err != nil {
		return version, err
	}
	res.Add(col, "idle RSS of the server (VmRSS)", float64(kib))
	return version, nil
}

var loadRE = regexp.MustCompile(`(\d+) ops/s, (\d+) rMB/s, (\d+) wMB/s`)

// runLoad starts a listening server on a Unix socket, runs diodload against
// it and records its figures. diodload prints per-thread failures but exits
// 0, so any other output line is an error.
func runLoad(cfg config, col string, getattr bool, res benchkit.Results) error {
	dir, err := os.MkdirTemp("", "gofer-p9load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s.sock")
	log := &launcher.LogBuffer{}
	srv, err := launcher.StartProcess(listenArgv(cfg, col, sock), nil, log)
	if err != nil {
		return err
	}
	defer srv.Kill()
	dump := func(err error) error {
		benchkit.PrintServerLog(log)
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			break
		}
		if srv.Exited() {
			return dump(fmt.Errorf("server exited before listening"))
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
		res.Add(col, "diodload --getattr (ops/s)", ops)
	} else {
		res.Add(col, "diodload, read+write msize (ops/s)", ops)
		res.Add(col, "diodload, read+write msize (read MB/s)", rmb*1.048576) // MiB/s -> MB/s
	}
	return nil
}

// cell is benchkit.Cell, or why diodload failed against the server.
func cell(m benchkit.Metric, col string, samples []float64) string {
	if len(samples) == 0 && strings.HasPrefix(m.Name, "diodload") {
		if e, ok := loadErrors[col+loadKey(strings.Contains(m.Name, "getattr"))]; ok {
			if len(e) > 160 {
				e = e[:160] + "…"
			}
			return "fails: " + strings.NewReplacer("|", "\\|", "\n", " ").Replace(e)
		}
	}
	return benchkit.Cell(m, samples)
}

func table(cfg config) benchkit.Table {
	t := benchkit.Table{
		Metrics: metrics,
		Base:    benchkit.Column{Key: diodCol, Title: "diod"},
		Others:  []benchkit.Column{{Key: oursCol, Title: "ours", Ratio: "ratio (ours/diod)"}},
		Cell:    cell,
	}
	for _, c := range cfg.cols {
		if c == nativeCol {
			t.Others = append(t.Others, benchkit.Column{Key: nativeCol, Title: "ours at " + cfg.native, Ratio: "ratio (ours-native/diod)"})
		}
	}
	return t
}

func describe(cfg config, tmpfs bool) string {
	var b strings.Builder
	b.WriteString(benchkit.Header("9P benchmark: ours vs diod"))
	fmt.Fprintf(&b, "- fixture: %s; client: gVisor p9.Client over a socketpair, msize %d, version requested %q (both servers)", benchkit.FixtureKind(tmpfs), cfg.msize, cfg.version)
	if cfg.native != "" {
		fmt.Fprintf(&b, "; ours also at %q", cfg.native)
	}
	b.WriteString("\n")
	pin := "not pinned"
	switch {
	case cfg.cpu >= 0 && cfg.serverCPU == cfg.cpu:
		pin = fmt.Sprintf("client, servers and diodload pinned to CPU %d (taskset -c %d)", cfg.cpu, cfg.cpu)
	case cfg.cpu >= 0 && cfg.serverCPU >= 0:
		pin = fmt.Sprintf("split: client and diodload pinned to CPU %d, servers to CPU %d", cfg.cpu, cfg.serverCPU)
	case cfg.cpu >= 0:
		pin = fmt.Sprintf("client and diodload pinned to CPU %d, servers not pinned", cfg.cpu)
	}
	fmt.Fprintf(&b, "- %s; %d interleaved runs per server (%s); %d timed iterations per latency metric per run after %d warm-up\n",
		pin, cfg.rounds, strings.Join(cfg.cols, ", "), cfg.iters, cfg.warmup)
	if cfg.diodload != "" {
		fmt.Fprintf(&b, "- diodload: `%s -s SOCK -m %d -n %d -r %d [-g]`, %d runs per server and load type; diod listens with `-l SOCK -e ctl -e ROOT` (synthetic ctl:zero/ctl:null), ours with `--listen unix:SOCK --mount ROOT` (1 MiB tmpfs file zero, empty file null)\n",
			cfg.diodload, cfg.msize, cfg.loadThreads, cfg.loadSecs, cfg.loadRounds)
	}
	if benchkit.ConcurrentSelected(concGetattr) || benchkit.ConcurrentSelected(concRead) {
		fmt.Fprintf(&b, "- concurrency rows: N goroutines, each with its own connection (and fids) to one listening server (diod `-l SOCK -e ctl -e ROOT`, ours `--listen unix:SOCK --mount ROOT`; ours-native: the same, at its version), all running for %v per level after %d untimed ops each; aggregate ops/s (completed ops / time until the last completed)\n",
			cfg.concTime, cfg.concWarmup)
	}
	b.WriteString(benchkit.Invocation())
	for _, c := range cfg.cols {
		fmt.Fprintf(&b, "- %s server command: `%s` (aname %q)\n", c, strings.Join(serverArgv(cfg, c, 3), " "), anameFor(cfg, c))
	}
	return b.String()
}
