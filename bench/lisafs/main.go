// Command lisafs_bench measures a lisafs gofer through gVisor's real client
// (gvisor.dev/gvisor/pkg/lisafs) over flipcall channels, running our gofer
// and the reference gofer (runsc-stock) side by side in one run, interleaved
// (ABAB...), with client and server pinned to the same CPU.
//
// It prints a markdown table (metric | reference | ours | ratio) and can write
// it to a file (--out).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/lisafs"

	"gofer/tests/interop/launcher"
)

var ctx = context.Background()

const (
	deepPath    = "d1/d2/d3/d4/f5"
	seqFile     = "seq.bin"
	seqSize     = 32 << 20
	manyDir     = "many"
	manyCount   = 10000
	readFile    = "r.bin"
	writeFile   = "w.bin"
	getdentsCnt = 64 * 1024 // what the sentry asks for (lisafsGetdentsCount)
)

// metric describes one row of the table.
type metric struct {
	name   string
	unit   string
	higher bool // higher is better (throughput)
	scale  float64
	// pct shows "median (p90 x)" instead of just the median.
	pct bool
}

var metrics = []metric{
	{name: "WalkStat, 5 path components", unit: "µs", scale: 1e-3, pct: true},
	{name: "Walk (1 component) + Close", unit: "µs", scale: 1e-3, pct: true},
	{name: "FStat", unit: "µs", scale: 1e-3, pct: true},
	{name: "OpenAt + Close", unit: "µs", scale: 1e-3, pct: true},
	{name: "PRead 4 KiB", unit: "µs", scale: 1e-3, pct: true},
	{name: "PWrite 4 KiB", unit: "µs", scale: 1e-3, pct: true},
	{name: "MkdirAt + UnlinkAt", unit: "µs", scale: 1e-3, pct: true},
	{name: "sequential PRead, 1 MiB requests", unit: "MB/s", higher: true, scale: 1},
	{name: "Getdents64, full listing of 10,000 entries", unit: "ms", scale: 1e-6, pct: true},
	{name: "process start to Mount reply", unit: "ms", scale: 1e-6, pct: true},
	{name: "idle RSS of the server (VmRSS)", unit: "MiB", scale: 1.0 / 1024},
}

// results[server][metric] holds raw samples: nanoseconds for latencies,
// MB/s for throughput, KiB for RSS.
type results map[string]map[string][]float64

func (r results) add(server, m string, v float64) {
	if r[server] == nil {
		r[server] = map[string][]float64{}
	}
	r[server][m] = append(r[server][m], v)
}

type config struct {
	servers []string
	opts    launcher.Options
	rounds  int
	iters   int
	warmup  int
	starts  int
	idle    time.Duration
	cpu     int
}

func main() {
	var (
		only    = flag.String("only", "", "run only this server: ours|ref (default: both)")
		oursBin = flag.String("gofer", "dist/gofer", "path of our gofer")
		refBin  = flag.String("runsc", "/opt/gvisor-ref/bin/runsc-stock", "path of the reference runsc")
		rounds  = flag.Int("rounds", 4, "runs per server; runs alternate ours/ref (ABAB...)")
		iters   = flag.Int("iters", 2000, "timed iterations per latency metric per run")
		warmup  = flag.Int("warmup", 200, "untimed warm-up iterations per metric per run")
		starts  = flag.Int("starts", 5, "extra start-to-Mount measurements per run")
		idle    = flag.Duration("idle", time.Second, "idle time before reading the server's RSS")
		cpu     = flag.Int("cpu", 0, "pin client and server to this CPU (-1: no pinning)")
		workDir = flag.String("workdir", "", "directory for the fixture (default: a new temp dir)")
		out     = flag.String("out", "", "also write the markdown report to this file")
	)
	flag.Parse()

	if *cpu >= 0 {
		pinSelf(*cpu)
	}
	cfg := config{rounds: *rounds, iters: *iters, warmup: *warmup, starts: *starts, idle: *idle, cpu: *cpu}
	switch *only {
	case "":
		cfg.servers = []string{launcher.Ref, launcher.Ours}
	case launcher.Ref, launcher.Ours:
		cfg.servers = []string{*only}
	default:
		fatalf("--only must be %q or %q", launcher.Ours, launcher.Ref)
	}
	bin, err := filepath.Abs(*oursBin)
	if err != nil {
		fatalf("%v", err)
	}
	for _, s := range cfg.servers {
		p := bin
		if s == launcher.Ref {
			p = *refBin
		}
		if _, err := os.Stat(p); err != nil {
			fatalf("%s server %s: %v", s, p, err)
		}
	}

	base, removeBase := *workDir, func() {}
	if base == "" {
		if base, removeBase, err = launcher.TempDir("gofer-bench-"); err != nil {
			fatalf("%v", err)
		}
	}
	root := filepath.Join(base, "root")
	unmount, tmpfs, err := launcher.MountScratch(root)
	if err != nil {
		removeBase()
		fatalf("%v", err)
	}
	// fatalf exits without running defers: it calls cleanup itself.
	cleanup = func() {
		unmount()
		removeBase()
	}
	defer cleanup()
	if err := populate(root); err != nil {
		fatalf("fixture: %v", err)
	}
	cfg.opts = launcher.Options{OursBin: bin, RefBin: *refBin, MountDir: root, CPU: *cpu}

	res := results{}
	header := describe(cfg, tmpfs)
	for r := 0; r < cfg.rounds; r++ {
		for _, server := range cfg.servers {
			fmt.Fprintf(os.Stderr, "run %d/%d: %s ... ", r+1, cfg.rounds, server)
			t0 := time.Now()
			if err := runOnce(cfg, server, res); err != nil {
				fatalf("%s, run %d: %v", server, r+1, err)
			}
			fmt.Fprintf(os.Stderr, "%.1fs\n", time.Since(t0).Seconds())
		}
	}

	report := header + "\n" + table(cfg, res)
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

// cleanup removes the fixture (set once it exists).
var cleanup = func() {}

func fatalf(format string, args ...any) {
	cleanup()
	fmt.Fprintf(os.Stderr, "lisafs_bench: "+format+"\n", args...)
	os.Exit(1)
}

// pinSelf re-executes the benchmark under `taskset -c cpu` unless it already
// runs on exactly that CPU, so that every client thread (and, by
// inheritance, the taskset-wrapped servers) shares one CPU.
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

// populate creates the benchmark tree.
func populate(root string) error {
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(deepPath)), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, deepPath), []byte("deep\n"), 0o644); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		size int
	}{{seqFile, seqSize}, {readFile, 1 << 20}, {writeFile, 1 << 20}} {
		b := make([]byte, f.size)
		for i := range b {
			b[i] = byte(i*7 + i>>11)
		}
		if err := os.WriteFile(filepath.Join(root, f.name), b, 0o644); err != nil {
			return err
		}
	}
	if err := os.Mkdir(filepath.Join(root, "scratch"), 0o755); err != nil {
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
	return nil
}

// session is one mounted gofer with the FDs the benchmarks use.
type session struct {
	g    *launcher.Gofer
	root lisafs.ClientFD
}

func (s *session) fd(id lisafs.FDID) *lisafs.ClientFD {
	f := s.g.Client.NewFD(id)
	return &f
}

// walk walks a slash-separated path from the root (intermediate FDs closed).
func (s *session) walk(rel string) (*lisafs.ClientFD, error) {
	names := strings.Split(rel, "/")
	status, inodes, err := s.root.WalkMultiple(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", rel, err)
	}
	if status != lisafs.WalkSuccess || len(inodes) != len(names) {
		return nil, fmt.Errorf("walk %s: status %d, %d inodes", rel, status, len(inodes))
	}
	for _, ino := range inodes[:len(inodes)-1] {
		s.g.Client.CloseFD(ctx, ino.ControlFD, false)
	}
	return s.fd(inodes[len(inodes)-1].ControlFD), nil
}

// open walks and opens rel; the host FD donated, if any, is closed.
func (s *session) open(rel string, flags uint32) (*lisafs.ClientFD, error) {
	ctl, err := s.walk(rel)
	if err != nil {
		return nil, err
	}
	id, hostFD, err := ctl.OpenAt(ctx, flags)
	if hostFD >= 0 {
		unix.Close(hostFD)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", rel, err)
	}
	return s.fd(id), nil
}

// start launches a server, mounts it and starts its channels.
func start(cfg config, server string, log io.Writer) (*session, error) {
	opts := cfg.opts
	opts.Server = server
	opts.Log = log
	g, err := launcher.Start(opts)
	if err != nil {
		return nil, err
	}
	if err := g.StartChannels(); err != nil {
		g.Kill()
		return nil, fmt.Errorf("StartChannels: %w", err)
	}
	return &session{g: g, root: g.Client.NewFD(g.Root.ControlFD)}, nil
}

// timeOp runs op warmup+iters times and records the timed iterations.
func timeOp(cfg config, res results, server, name string, op func() error) error {
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
		res.add(server, name, v)
	}
	return nil
}

// runOnce measures one run of one server.
func runOnce(cfg config, server string, res results) (retErr error) {
	var serverLog launcher.LogBuffer
	defer func() {
		if retErr != nil {
			for _, l := range serverLog.Tail(20) {
				fmt.Fprintf(os.Stderr, "  server| %s\n", l)
			}
		}
	}()
	// Start latency: extra start/Mount/close cycles, then the main session.
	for i := 0; i < cfg.starts; i++ {
		s, err := start(cfg, server, &serverLog)
		if err != nil {
			return err
		}
		res.add(server, "process start to Mount reply", float64(s.g.MountLatency.Nanoseconds()))
		if err := s.g.Close(10 * time.Second); err != nil {
			return err
		}
	}
	s, err := start(cfg, server, &serverLog)
	if err != nil {
		return err
	}
	res.add(server, "process start to Mount reply", float64(s.g.MountLatency.Nanoseconds()))
	defer func() {
		if err := s.g.Close(10 * time.Second); err != nil && retErr == nil {
			retErr = err
		}
	}()
	if cfg.cpu >= 0 {
		if got := s.g.CPUsAllowed(); got != strconv.Itoa(cfg.cpu) {
			return fmt.Errorf("server is not pinned: Cpus_allowed_list %q, want %d", got, cfg.cpu)
		}
	}

	deep := strings.Split(deepPath, "/")
	if err := timeOp(cfg, res, server, "WalkStat, 5 path components", func() error {
		st, err := s.root.WalkStat(ctx, deep)
		if err == nil && len(st) != len(deep) {
			err = fmt.Errorf("%d stats", len(st))
		}
		return err
	}); err != nil {
		return err
	}
	if err := timeOp(cfg, res, server, "Walk (1 component) + Close", func() error {
		ino, err := s.root.Walk(ctx, "d1")
		if err != nil {
			return err
		}
		s.g.Client.CloseFD(ctx, ino.ControlFD, true)
		return nil
	}); err != nil {
		return err
	}

	file, err := s.walk(readFile)
	if err != nil {
		return err
	}
	var st linux.Statx
	if err := timeOp(cfg, res, server, "FStat", func() error {
		return file.StatTo(ctx, &st)
	}); err != nil {
		return err
	}
	if err := timeOp(cfg, res, server, "OpenAt + Close", func() error {
		id, hostFD, err := file.OpenAt(ctx, unix.O_RDONLY)
		if err != nil {
			return err
		}
		if hostFD >= 0 {
			unix.Close(hostFD)
		}
		s.g.Client.CloseFD(ctx, id, true)
		return nil
	}); err != nil {
		return err
	}

	rfd, err := s.open(readFile, unix.O_RDONLY)
	if err != nil {
		return err
	}
	buf := make([]byte, 4096)
	if err := timeOp(cfg, res, server, "PRead 4 KiB", func() error {
		n, err := rfd.Read(ctx, buf, 8192)
		if err == nil && n != 4096 {
			err = fmt.Errorf("read %d bytes", n)
		}
		return err
	}); err != nil {
		return err
	}
	wfd, err := s.open(writeFile, unix.O_WRONLY)
	if err != nil {
		return err
	}
	if err := timeOp(cfg, res, server, "PWrite 4 KiB", func() error {
		n, err := wfd.Write(ctx, buf, 8192)
		if err == nil && n != 4096 {
			err = fmt.Errorf("wrote %d bytes", n)
		}
		return err
	}); err != nil {
		return err
	}

	scratch, err := s.walk("scratch")
	if err != nil {
		return err
	}
	if err := timeOp(cfg, res, server, "MkdirAt + UnlinkAt", func() error {
		ino, err := scratch.MkdirAt(ctx, "d", 0o755, lisafs.UID(os.Geteuid()), lisafs.GID(os.Getegid()))
		if err != nil {
			return err
		}
		// Batched, as the sentry closes FDs it no longer needs.
		s.g.Client.CloseFD(ctx, ino.ControlFD, false)
		return scratch.UnlinkAt(ctx, "d", unix.AT_REMOVEDIR)
	}); err != nil {
		return err
	}

	// Sequential 1 MiB reads over a 32 MiB file: MB/s per pass.
	sfd, err := s.open(seqFile, unix.O_RDONLY)
	if err != nil {
		return err
	}
	big := make([]byte, 1<<20)
	passes := max(3, cfg.iters/200)
	for p := -1; p < passes; p++ {
		t := time.Now()
		for off := 0; off < seqSize; off += len(big) {
			n, err := sfd.Read(ctx, big, uint64(off))
			if err != nil || n != uint64(len(big)) {
				return fmt.Errorf("sequential read at %d: n=%d err=%v", off, n, err)
			}
		}
		if p >= 0 { // pass -1 is the warm-up
			res.add(server, "sequential PRead, 1 MiB requests", float64(seqSize)/1e6/time.Since(t).Seconds())
		}
	}

	// Full directory listings, as the sentry does them (seek0 first).
	dfd, err := s.open(manyDir, unix.O_RDONLY)
	if err != nil {
		return err
	}
	listings := max(5, cfg.iters/100)
	for i := -2; i < listings; i++ {
		t := time.Now()
		n := 0
		count := -getdentsCnt
		for {
			ds, err := dfd.Getdents64(ctx, int32(count))
			if err != nil {
				return fmt.Errorf("Getdents64: %w", err)
			}
			if len(ds) == 0 {
				break
			}
			n += len(ds)
			count = getdentsCnt
		}
		d := time.Since(t)
		if n < manyCount {
			return fmt.Errorf("listing returned %d entries, want >= %d", n, manyCount)
		}
		if i >= 0 {
			res.add(server, "Getdents64, full listing of 10,000 entries", float64(d.Nanoseconds()))
		}
	}

	// Idle RSS, with every FD used above still open.
	runtime.GC()
	time.Sleep(cfg.idle)
	rss, err := s.g.RSSKiB()
	if err != nil {
		return fmt.Errorf("RSS: %w", err)
	}
	res.add(server, "idle RSS of the server (VmRSS)", float64(rss))
	return nil
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(p*float64(len(s)-1) + 0.5)
	return s[i]
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

func cell(m metric, samples []float64) string {
	if len(samples) == 0 {
		return "–"
	}
	med := percentile(samples, 0.5) * m.scale
	if !m.pct {
		return fmt.Sprintf("%s %s", format(med), m.unit)
	}
	return fmt.Sprintf("%s %s (p90 %s)", format(med), m.unit, format(percentile(samples, 0.9)*m.scale))
}

func table(cfg config, res results) string {
	var b strings.Builder
	b.WriteString("| metric | reference | ours | ratio (ours/ref) |\n")
	b.WriteString("| --- | ---: | ---: | ---: |\n")
	for _, m := range metrics {
		ref, ours := res[launcher.Ref][m.name], res[launcher.Ours][m.name]
		ratio := "–"
		if len(ref) > 0 && len(ours) > 0 {
			r := percentile(ours, 0.5) / percentile(ref, 0.5)
			better := "lower is better"
			if m.higher {
				better = "higher is better"
			}
			ratio = fmt.Sprintf("%.2f× (%s)", r, better)
		}
		name := m.name
		if m.pct {
			name += ", median"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, cell(m, ref), cell(m, ours), ratio)
	}
	return b.String()
}

func describe(cfg config, tmpfs bool) string {
	var b strings.Builder
	var uts unix.Utsname
	unix.Uname(&uts)
	fmt.Fprintf(&b, "# lisafs benchmark: ours vs reference gofer\n\n")
	fmt.Fprintf(&b, "- date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- host: Linux %s, %s, %d CPUs online\n", unix.ByteSliceToString(uts.Release[:]), cpuModel(), runtimeCPUs())
	fs := "tmpfs"
	if !tmpfs {
		fs = "plain directory (not root: no tmpfs)"
	}
	fmt.Fprintf(&b, "- fixture: %s; client: gVisor lisafs.Client over flipcall channels (StartChannels)\n", fs)
	pin := "not pinned"
	if cfg.cpu >= 0 {
		pin = fmt.Sprintf("client and server pinned to CPU %d (taskset -c %d)", cfg.cpu, cfg.cpu)
	}
	fmt.Fprintf(&b, "- %s; %d interleaved runs per server (%s); %d timed iterations per latency metric per run after %d warm-up\n",
		pin, cfg.rounds, strings.Join(order(cfg), ""), cfg.iters, cfg.warmup)
	if inv := os.Getenv("GOFER_BENCH_INVOCATION"); inv != "" {
		fmt.Fprintf(&b, "- invoked as: `%s`\n", strings.TrimSpace(inv))
	}
	fmt.Fprintf(&b, "- client command: `%s`\n", clientCommand(cfg))
	for _, s := range cfg.servers {
		o := cfg.opts
		o.Server = s
		fmt.Fprintf(&b, "- %s server command: `%s`\n", s, o.CommandLine())
	}
	return b.String()
}

func order(cfg config) []string {
	var o []string
	for r := 0; r < min(cfg.rounds, 2); r++ {
		for _, s := range cfg.servers {
			o = append(o, map[string]string{launcher.Ref: "R", launcher.Ours: "O"}[s])
		}
	}
	if cfg.rounds > 2 {
		o = append(o, "…")
	}
	return o
}

func clientCommand(cfg config) string {
	args := append([]string{}, os.Args...)
	if cfg.cpu >= 0 {
		args = append([]string{"taskset", "-c", strconv.Itoa(cfg.cpu)}, args...)
	}
	return strings.Join(args, " ")
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

func runtimeCPUs() int {
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
