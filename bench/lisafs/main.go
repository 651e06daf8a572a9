// Command lisafs_bench measures a lisafs gofer through gVisor's real client
// (gvisor.dev/gvisor/pkg/lisafs) over flipcall channels, running our gofer
// and the reference gofer (runsc-stock) side by side in one run, interleaved
// (ABAB...), with client and server pinned to the same CPU.
//
// It prints a markdown table (metric | reference | ours | ratio) and can write
// it to a file (--out).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/lisafs"

	"gofer/bench/internal/benchkit"
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

var metrics = []benchkit.Metric{
	{Name: "WalkStat, 5 path components", Unit: "µs", Scale: 1e-3, Pct: true},
	{Name: "Walk (1 component) + Close", Unit: "µs", Scale: 1e-3, Pct: true},
	{Name: "FStat", Unit: "µs", Scale: 1e-3, Pct: true},
	{Name: "OpenAt + Close", Unit: "µs", Scale: 1e-3, Pct: true},
	{Name: "PRead 4 KiB", Unit: "µs", Scale: 1e-3, Pct: true},
	{Name: "PWrite 4 KiB", Unit: "µs", Scale: 1e-3, Pct: true},
	{Name: "MkdirAt + UnlinkAt", Unit: "µs", Scale: 1e-3, Pct: true},
	{Name: "sequential PRead, 1 MiB requests", Unit: "MB/s", Higher: true, Scale: 1},
	{Name: "Getdents64, full listing of 10,000 entries", Unit: "ms", Scale: 1e-6, Pct: true},
	{Name: "process start to Mount reply", Unit: "ms", Scale: 1e-6, Pct: true},
	{Name: "idle RSS of the server (VmRSS)", Unit: "MiB", Scale: 1.0 / 1024},
	// smaps_rollup, with a second server of the same binary alive: what a
	// host with many sandboxes pays per gofer (Anonymous is private to it;
	// PSS shares the executable's pages among the gofers that map them).
	{Name: "anonymous memory after Mount, idle", Unit: "MiB", Scale: 1.0 / 1024},
	{Name: "PSS after Mount, idle", Unit: "MiB", Scale: 1.0 / 1024},
	{Name: "RSS after Mount, idle", Unit: "MiB", Scale: 1.0 / 1024},
	{Name: "anonymous memory after the workload, idle", Unit: "MiB", Scale: 1.0 / 1024},
	{Name: "PSS after the workload, idle", Unit: "MiB", Scale: 1.0 / 1024},
}

// The concurrency rows: aggregate ops/s of 1, 2, 4 and 8 goroutines.
func init() { metrics = append(metrics, benchkit.ConcurrentMetrics(concFStat, concPRead)...) }

// memory records the server's smaps_rollup figures (its whole process tree)
// under "<what> <suffix>".
func memory(s *session, server, suffix string, idle time.Duration, res benchkit.Results, withRSS bool) error {
	runtime.GC()
	time.Sleep(idle)
	var anon, pss, rss float64
	for _, pid := range launcher.ProcTree(s.g.Pid()) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			if pid == s.g.Pid() {
				return fmt.Errorf("smaps_rollup: %w", err)
			}
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseFloat(f[1], 64)
			switch f[0] {
			case "Anonymous:":
				anon += v
			case "Pss:":
				pss += v
			case "Rss:":
				rss += v
			}
		}
	}
	add := func(name string, v float64) {
		res.Add(server, name, v)
		// One value per run: the report's per-run ratios (RenderSpread).
		res.Add(server, benchkit.RunName(name, "median"), v)
	}
	add("anonymous memory "+suffix, anon)
	add("PSS "+suffix, pss)
	if withRSS {
		add("RSS "+suffix, rss)
	}
	return nil
}

type config struct {
	servers []string
	// extra maps the extra servers (--extra NAME=PATH, in servers after ref
	// and ours) to their executables.
	extra  map[string]string
	opts   launcher.Options
	rounds int
	iters  int
	warmup int
	starts int
	idle   time.Duration
	memory bool
	cpu    int
	// serverCPU pins the servers (-1: not pinned); the client follows cpu.
	serverCPU int
	// concTime and concWarmup: each concurrency level's timed span, and the
	// untimed operations per goroutine before it.
	concTime   time.Duration
	concWarmup int
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
		srvCPU  = flag.Int("server-cpu", -2, "pin the servers to this CPU instead (the \"split\" mode: --cpu 0 --server-cpu 1; -1: servers not pinned)")
		workDir = flag.String("workdir", "", "directory for the fixture (default: a new temp dir)")
		out     = flag.String("out", "", "also write the markdown report to this file")
		rows    = flag.String("metrics", "", "run only the rows whose name matches this regexp (e.g. Getdents, or 'concurrent' for the concurrency rows)")
		concT   = flag.Duration("conc-time", 500*time.Millisecond, "timed span of each concurrency level (concurrent ... xN rows) per run")
		concW   = flag.Int("conc-warmup", 2000, "untimed operations per goroutine before each concurrency level")
		rawOut  = flag.String("json", "", "also write every sample, by server and row, to this file (JSON)")
		extras  []string
	)
	flag.Func("extra", "NAME=PATH: also run PATH, launched as our gofer is, as server NAME (repeatable). "+
		"An extra server only has to answer Mount (Channel may be refused with ENOMEM): it is measured up to the "+
		"after-Mount memory rows, then closed; the round order rotates (ref, ours, NAME, ... then ours, NAME, ..., ref)",
		func(v string) error {
			name, path, ok := strings.Cut(v, "=")
			if !ok || name == "" || path == "" || name == launcher.Ref || name == launcher.Ours {
				return fmt.Errorf("want NAME=PATH, NAME not %q or %q", launcher.Ref, launcher.Ours)
			}
			extras = append(extras, name, path)
			return nil
		})
	flag.Parse()
	if err := benchkit.Select(*rows); err != nil {
		fatalf("--metrics: %v", err)
	}

	if *cpu >= 0 {
		if err := benchkit.PinSelf(*cpu); err != nil {
			fatalf("%v", err)
		}
	}
	if *srvCPU == -2 {
		*srvCPU = *cpu
	}
	cfg := config{rounds: *rounds, iters: *iters, warmup: *warmup, starts: *starts, idle: *idle, memory: benchkit.Wanted("PSS after Mount, idle"), cpu: *cpu, serverCPU: *srvCPU,
		concTime: *concT, concWarmup: *concW}
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
	cfg.extra = map[string]string{}
	for i := 0; i < len(extras); i += 2 {
		p, err := filepath.Abs(extras[i+1])
		if err != nil {
			fatalf("%v", err)
		}
		if _, dup := cfg.extra[extras[i]]; dup {
			fatalf("--extra %s given twice", extras[i])
		}
		cfg.extra[extras[i]] = p
		cfg.servers = append(cfg.servers, extras[i])
	}
	for _, s := range cfg.servers {
		p := bin
		if s == launcher.Ref {
			p = *refBin
		} else if e, ok := cfg.extra[s]; ok {
			p = e
		}
		if _, err := os.Stat(p); err != nil {
			fatalf("%s server %s: %v", s, p, err)
		}
	}

	root, tmpfs, removeRoot, err := benchkit.NewRoot("gofer-bench-", *workDir)
	if err != nil {
		fatalf("%v", err)
	}
	// fatalf exits without running defers: it calls cleanup itself.
	cleanup = removeRoot
	defer cleanup()
	if err := populate(root); err != nil {
		fatalf("fixture: %v", err)
	}
	cfg.opts = launcher.Options{OursBin: bin, RefBin: *refBin, MountDir: root, CPU: cfg.serverCPU}

	res := benchkit.Results{}
	header := describe(cfg, tmpfs)
	for r := 0; r < cfg.rounds; r++ {
		for _, server := range roundOrder(cfg, r) {
			fmt.Fprintf(os.Stderr, "run %d/%d: %s ... ", r+1, cfg.rounds, server)
			t0 := time.Now()
			if err := runOnce(cfg, server, res); err != nil {
				fatalf("%s, run %d: %v", server, r+1, err)
			}
			fmt.Fprintf(os.Stderr, "%.1fs\n", time.Since(t0).Seconds())
		}
	}

	table := benchkit.Table{
		Metrics: metrics,
		Base:    benchkit.Column{Key: launcher.Ref, Title: "reference"},
		Others:  []benchkit.Column{{Key: launcher.Ours, Title: "ours", Ratio: "ratio (ours/ref)"}},
	}
	for i := 0; i < len(extras); i += 2 {
		table.Others = append(table.Others, benchkit.Column{Key: extras[i], Title: extras[i], Ratio: "ratio (" + extras[i] + "/ref)"})
	}
	if err := benchkit.Output(header+channelsNote(cfg)+"\n"+table.Report(res), *out); err != nil {
		fatalf("%v", err)
	}
	if *rawOut != "" {
		b, err := json.MarshalIndent(res, "", " ")
		if err == nil {
			err = os.WriteFile(*rawOut, b, 0o644)
		}
		if err != nil {
			fatalf("--json: %v", err)
		}
	}
}

// roundOrder is the order of the servers in round r: ref then ours every
// round (ABAB...), as always; with extra servers, rotated by one each round,
// so that no server is always first or last.
func roundOrder(cfg config, r int) []string {
	if len(cfg.extra) == 0 {
		return cfg.servers
	}
	n := len(cfg.servers)
	o := make([]string, n)
	for i := range o {
		o[i] = cfg.servers[(r+i)%n]
	}
	return o
}

// options is the launch of server (ref, ours or an extra, launched as ours).
func (cfg config) options(server string) launcher.Options {
	o := cfg.opts
	o.Server = server
	if bin, ok := cfg.extra[server]; ok {
		o.Server, o.OursBin = launcher.Ours, bin
	}
	return o
}

// cleanup removes the fixture (set once it exists).
var cleanup = func() {}

func fatalf(format string, args ...any) {
	cleanup()
	fmt.Fprintf(os.Stderr, "lisafs_bench: "+format+"\n", args...)
	os.Exit(1)
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
		if err := os.WriteFile(filepath.Join(root, f.name), benchkit.Pattern(f.size), 0o644); err != nil {
			return err
		}
	}
	if err := os.Mkdir(filepath.Join(root, "scratch"), 0o755); err != nil {
		return err
	}
	return benchkit.CreateFiles(filepath.Join(root, manyDir), manyCount)
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
	opts := cfg.options(server)
	opts.Log = log
	g, err := launcher.Start(opts)
	if err != nil {
		return nil, err
	}
	if err := g.StartChannels(); err != nil {
		// An extra server may refuse every channel (ENOMEM, "at its limit"):
		// the client then talks over the socket, as with directfs.
		if _, extra := cfg.extra[server]; !extra || !errors.Is(err, unix.ENOMEM) {
			g.Kill()
			return nil, fmt.Errorf("StartChannels: %w", err)
		}
	}
	return &session{g: g, root: g.Client.NewFD(g.Root.ControlFD)}, nil
}

// runOnce measures one run of one server.
func runOnce(cfg config, server string, res benchkit.Results) (retErr error) {
	var serverLog launcher.LogBuffer
	defer func() {
		if retErr != nil {
			benchkit.PrintServerLog(&serverLog)
		}
	}()
	// Start latency: extra start/Mount/close cycles, then the main session.
	for i := 0; i < cfg.starts; i++ {
		s, err := start(cfg, server, &serverLog)
		if err != nil {
			return err
		}
		res.Add(server, "process start to Mount reply", float64(s.g.MountLatency.Nanoseconds()))
		if err := s.g.Close(10 * time.Second); err != nil {
			return err
		}
	}
	// A second server of the same binary stays up through the run, so the
	// memory figures show what gofers share.
	companion, err := start(cfg, server, &serverLog)
	if err != nil {
		return err
	}
	defer func() {
		if err := companion.g.Close(10 * time.Second); err != nil && retErr == nil {
			retErr = err
		}
	}()
	s, err := start(cfg, server, &serverLog)
	if err != nil {
		return err
	}
	res.Add(server, "process start to Mount reply", float64(s.g.MountLatency.Nanoseconds()))
	defer func() {
		if err := s.g.Close(10 * time.Second); err != nil && retErr == nil {
			retErr = err
		}
	}()
	if cfg.memory {
		if err := memory(s, server, "after Mount, idle", cfg.idle, res, true); err != nil {
			return err
		}
	}
	if _, extra := cfg.extra[server]; extra {
		return nil // it serves Mount (and Channel) only
	}
	if cfg.serverCPU >= 0 {
		if err := benchkit.CheckPinned(s.g.Process, cfg.serverCPU); err != nil {
			return err
		}
	}
	benchkit.ServerPID = s.g.Process.Pid()
	defer func() { benchkit.ServerPID = 0 }()

	deep := strings.Split(deepPath, "/")
	if err := res.Time(server, "WalkStat, 5 path components", cfg.warmup, cfg.iters, func() error {
		st, err := s.root.WalkStat(ctx, deep)
		if err == nil && len(st) != len(deep) {
			err = fmt.Errorf("%d stats", len(st))
		}
		return err
	}); err != nil {
		return err
	}
	if err := res.Time(server, "Walk (1 component) + Close", cfg.warmup, cfg.iters, func() error {
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
	if err := res.Time(server, "FStat", cfg.warmup, cfg.iters, func() error {
		return file.StatTo(ctx, &st)
	}); err != nil {
		return err
	}
	if err := res.Time(server, "OpenAt + Close", cfg.warmup, cfg.iters, func() error {
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
	if err := res.Time(server, "PRead 4 KiB", cfg.warmup, cfg.iters, func() error {
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
	if err := res.Time(server, "PWrite 4 KiB", cfg.warmup, cfg.iters, func() error {
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
	if err := res.Time(server, "MkdirAt + UnlinkAt", cfg.warmup, cfg.iters, func() error {
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
	if err := res.Throughput(server, "sequential PRead, 1 MiB requests", max(3, cfg.iters/200), seqSize, func() error {
		for off := 0; off < seqSize; off += len(big) {
			n, err := sfd.Read(ctx, big, uint64(off))
			if err != nil || n != uint64(len(big)) {
				return fmt.Errorf("sequential read at %d: n=%d err=%v", off, n, err)
			}
		}
		return nil
	}); err != nil {
		return err
	}

	// Full directory listings, as the sentry does them (seek0 first).
	dfd, err := s.open(manyDir, unix.O_RDONLY)
	if err != nil {
		return err
	}
	if err := res.Time(server, "Getdents64, full listing of 10,000 entries", 2, max(5, cfg.iters/100), func() error {
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
		if n < manyCount {
			return fmt.Errorf("listing returned %d entries, want >= %d", n, manyCount)
		}
		return nil
	}); err != nil {
		return err
	}

	if err := runConcurrent(cfg, s, server, res); err != nil {
		return err
	}

	// Idle RSS, with every FD used above still open.
	if !benchkit.Wanted("idle RSS of the server (VmRSS)") {
		return nil
	}
	runtime.GC()
	time.Sleep(cfg.idle)
	rss, err := s.g.RSSKiB()
	if err != nil {
		return fmt.Errorf("RSS: %w", err)
	}
	res.Add(server, "idle RSS of the server (VmRSS)", float64(rss))
	if cfg.memory {
		return memory(s, server, "after the workload, idle", 0, res, false)
	}
	return nil
}

func describe(cfg config, tmpfs bool) string {
	var b strings.Builder
	b.WriteString(benchkit.Header("lisafs benchmark: ours vs reference gofer"))
	fmt.Fprintf(&b, "- fixture: %s; client: gVisor lisafs.Client over flipcall channels (StartChannels)\n", benchkit.FixtureKind(tmpfs))
	pin := "not pinned"
	switch {
	case cfg.cpu >= 0 && cfg.serverCPU == cfg.cpu:
		pin = fmt.Sprintf("client and server pinned to CPU %d (taskset -c %d)", cfg.cpu, cfg.cpu)
	case cfg.cpu >= 0 && cfg.serverCPU >= 0:
		pin = fmt.Sprintf("split: client pinned to CPU %d, server to CPU %d", cfg.cpu, cfg.serverCPU)
	case cfg.cpu >= 0:
		pin = fmt.Sprintf("client pinned to CPU %d, server not pinned", cfg.cpu)
	case cfg.serverCPU >= 0:
		pin = fmt.Sprintf("client not pinned, server pinned to CPU %d", cfg.serverCPU)
	}
	fmt.Fprintf(&b, "- %s; %d interleaved runs per server (%s); %d timed iterations per latency metric per run after %d warm-up\n",
		pin, cfg.rounds, strings.Join(order(cfg), ""), cfg.iters, cfg.warmup)
	b.WriteString(benchkit.Invocation())
	fmt.Fprintf(&b, "- client command: `%s`\n", clientCommand(cfg))
	for _, s := range cfg.servers {
		o := cfg.options(s)
		fmt.Fprintf(&b, "- %s server command: `%s`\n", s, o.CommandLine())
	}
	if len(cfg.extra) > 0 {
		b.WriteString("- extra servers (--extra): measured up to the after-Mount rows only; rounds rotate the order\n")
	}
	return b.String()
}

// channelsNote describes the concurrency rows, with the channels each
// server granted ("" if they did not run).
func channelsNote(cfg config) string {
	if len(channelsGranted) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "- concurrency rows: N goroutines share the connection, each with its own FDs, all running for %v per level after %d untimed ops each; aggregate ops/s (completed ops / time until the last completed); client GOMAXPROCS %d\n",
		cfg.concTime, cfg.concWarmup, runtime.GOMAXPROCS(0))
	for _, s := range cfg.servers {
		if _, extra := cfg.extra[s]; extra {
			continue
		}
		fmt.Fprintf(&b, "- channels the %s server granted (asked for %d; per run): %v; goroutines beyond them take turns on the socket\n", s, wantChannels, channelsGranted[s])
	}
	return b.String()
}

func order(cfg config) []string {
	var o []string
	for r := 0; r < min(cfg.rounds, 2); r++ {
		for _, s := range roundOrder(cfg, r) {
			l, ok := map[string]string{launcher.Ref: "R", launcher.Ours: "O"}[s]
			if !ok {
				l = "[" + s + "]"
			}
			o = append(o, l)
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
