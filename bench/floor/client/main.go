// Command client is the client side of the floor benchmark (bench/floor):
// gVisor's own flipcall client (gvisor.dev/gvisor/pkg/flipcall, what the
// lisafs client uses per channel: Connect, then SendRecvFast per call)
// doing small round trips against one server process per round.
//
// It reads a spec (JSON, --spec FILE) naming the servers, and runs `rounds`
// rounds, each round every server in the spec's order (go, bun, c, go, bun,
// c, ...), each server a fresh process. Per round it creates a packet
// window (flipcall.PacketWindowAllocator, as lisafs does per channel),
// starts the server with the window's memfd as FD 3 and
// `--fd 3 --offset O --length L` appended to its argv, connects, does
// `warmup` untimed and then `iters` timed round trips of 16 bytes each way,
// and prints one JSON line (a Round) on stdout.
//
// Per round trip it also records the CPU the client woke up on (RDPID)
// against the CPU the server said it replied from: "same" is the fraction
// of round trips where the client was woken on the server's CPU. Around the
// timed loop it reads /proc/PID/task/*/sched of both processes (context
// switches, migrations, CPU time per thread), and every other thread's CPU
// time (/proc/*/task/*/schedstat): "otherMs" is what anything else on the
// machine took while the timed loop ran (other agents' builds, kernel
// threads; a thread that started and ended in between is missed).
//
// Placement is the caller's: run the client under `taskset -c N` to pin it
// (its threads inherit); serverCpu >= 0 in the spec starts the server under
// `taskset -c serverCpu`, otherwise it inherits the client's mask.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gvisor.dev/gvisor/pkg/flipcall"

	"gofer/bench/floor/cpuid"
)

// Server is one server kind of the spec.
type Server struct {
	Name string            `json:"name"`
	Argv []string          `json:"argv"`
	Env  map[string]string `json:"env,omitempty"`
}

// Spec is what the driver asks for.
type Spec struct {
	Rounds    int      `json:"rounds"`
	Iters     int      `json:"iters"`
	Warmup    int      `json:"warmup"`
	ServerCPU int      `json:"serverCpu"`
	WindowLen int      `json:"windowLen"`
	FarUs     float64  `json:"farUs"`
	Servers   []Server `json:"servers"`
	Label     string   `json:"label,omitempty"`
	Noise     []string `json:"noise,omitempty"` // a background process for the whole batch
}

// Thread is one thread's scheduler counters over the timed loop (deltas).
type Thread struct {
	Tid   int     `json:"tid"`
	Comm  string  `json:"comm"`
	Vol   int64   `json:"vol"`
	Invol int64   `json:"invol"`
	Migr  int64   `json:"migr"`
	RunMs float64 `json:"runMs"`
}

// Round is one round's result.
type Round struct {
	Label     string    `json:"label,omitempty"`
	Server    string    `json:"server"`
	Round     int       `json:"round"`
	Seq       int       `json:"seq"` // position in the batch
	Start     string    `json:"start"`
	ConnectMs float64   `json:"connectMs"`
	Iters     int       `json:"iters"`
	MedianUs  float64   `json:"medianUs"`
	P10Us     float64   `json:"p10Us"`
	P90Us     float64   `json:"p90Us"`
	P99Us     float64   `json:"p99Us"`
	MeanUs    float64   `json:"meanUs"`
	Far       float64   `json:"far"`        // fraction of round trips > farUs
	Same      float64   `json:"same"`       // fraction woken on the server's CPU
	Flips     int       `json:"flips"`      // same <-> not-same changes
	Tenths    []float64 `json:"tenthsSame"` // "same" per tenth of the timed loop
	WallMs    float64   `json:"wallMs"`     // the timed loop
	OtherMs   float64   `json:"otherMs"`    // CPU time of neither process meanwhile
	StealMs   float64   `json:"stealMs"`    // steal time of all CPUs meanwhile (/proc/stat, 10 ms ticks)
	Client    Thread    `json:"client"`     // all client threads summed
	ServerT   []Thread  `json:"serverThreads"`
}

func main() {
	specPath := flag.String("spec", "", "spec file (JSON)")
	flag.Parse()
	b, err := os.ReadFile(*specPath)
	if err != nil {
		fatalf("%v", err)
	}
	var spec Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		fatalf("spec: %v", err)
	}
	if spec.WindowLen == 0 {
		spec.WindowLen = 4096
	}
	if spec.FarUs == 0 {
		spec.FarUs = 20
	}
	if len(spec.Noise) > 0 {
		noise := exec.Command(spec.Noise[0], spec.Noise[1:]...)
		if err := noise.Start(); err != nil {
			fatalf("noise: %v", err)
		}
		defer func() { noise.Process.Kill(); noise.Wait() }()
	}
	out := bufio.NewWriter(os.Stdout)
	seq := 0
	for r := 0; r < spec.Rounds; r++ {
		for _, s := range spec.Servers {
			res, err := runRound(&spec, s)
			if err != nil {
				fmt.Fprintf(os.Stderr, "floor client: %s round %d: %v\n", s.Name, r+1, err)
				os.Exit(1)
			}
			res.Round, res.Seq, res.Label = r, seq, spec.Label
			seq++
			j, _ := json.Marshal(res)
			out.Write(j)
			out.WriteByte('\n')
			out.Flush()
			fmt.Fprintf(os.Stderr, "  %-14s round %2d: median %6.1f µs  p99 %7.1f µs  same %.2f  far %.2f\n",
				s.Name, r+1, res.MedianUs, res.P99Us, res.Same, res.Far)
		}
	}
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "floor client: "+format+"\n", a...)
	os.Exit(1)
}

func runRound(spec *Spec, s Server) (*Round, error) {
	pwa, err := flipcall.NewPacketWindowAllocator()
	if err != nil {
		return nil, err
	}
	defer pwa.Destroy()
	pwd, err := pwa.Allocate(spec.WindowLen)
	if err != nil {
		return nil, err
	}
	argv := append([]string{}, s.Argv...)
	argv = append(argv, "--fd", "3", "--offset", strconv.FormatInt(pwd.Offset, 10), "--length", strconv.Itoa(pwd.Length))
	if spec.ServerCPU >= 0 {
		argv = append([]string{"taskset", "-c", strconv.Itoa(spec.ServerCPU)}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.ExtraFiles = []*os.File{os.NewFile(uintptr(pwd.FD), "packet-window")}
	cmd.Env = os.Environ()
	for k, v := range s.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	ep, err := flipcall.NewEndpoint(flipcall.ClientSide, pwd)
	if err != nil {
		return nil, err
	}
	defer ep.Destroy()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() {
		exited <- cmd.Wait()
		ep.Shutdown() // unblocks a client still waiting on a dead server
	}()
	fail := func(err error) (*Round, error) {
		cmd.Process.Kill()
		<-exited
		return nil, err
	}
	if err := ep.Connect(); err != nil {
		return fail(fmt.Errorf("connect: %w", err))
	}
	res := &Round{Server: s.Name, Start: t0.Format(time.RFC3339), ConnectMs: float64(time.Since(t0).Microseconds()) / 1e3, Iters: spec.Iters}

	d := ep.Data()
	samples := make([]float64, spec.Iters)
	same := make([]bool, spec.Iters)
	var before map[int]rawThread
	var cBefore rawThread
	var others0 map[int]int64
	var steal0 float64
	var wall0 time.Time
	total := spec.Warmup + spec.Iters
	for i := 0; i < total; i++ {
		if i == spec.Warmup {
			before = threads(cmd.Process.Pid)
			cBefore = sumThreads(threads(os.Getpid()))
			others0, wall0 = othersNs(os.Getpid(), cmd.Process.Pid), time.Now()
			steal0 = stealMs()
		}
		want := uint64(i + 1)
		binary.LittleEndian.PutUint64(d[0:8], want)
		binary.LittleEndian.PutUint64(d[8:16], 0)
		t := time.Now()
		n, err := ep.SendRecvFast(16)
		dt := time.Since(t)
		ccpu := cpuid.CPU()
		if err != nil {
			return fail(fmt.Errorf("round trip %d: %w", i, err))
		}
		if n != 16 || binary.LittleEndian.Uint64(d[0:8]) != want {
			return fail(fmt.Errorf("round trip %d: bad reply (%d bytes)", i, n))
		}
		if i >= spec.Warmup {
			j := i - spec.Warmup
			samples[j] = float64(dt.Nanoseconds()) / 1e3
			same[j] = binary.LittleEndian.Uint32(d[8:12]) == ccpu
		}
	}
	wall, others, steal := time.Since(wall0), othersNs(os.Getpid(), cmd.Process.Pid), stealMs()
	after := threads(cmd.Process.Pid)
	cAfter := sumThreads(threads(os.Getpid()))
	ep.Shutdown()
	select {
	case err := <-exited:
		if err != nil {
			return nil, fmt.Errorf("server exit: %w", err)
		}
	case <-time.After(5 * time.Second):
		return fail(fmt.Errorf("server did not exit after shutdown"))
	}

	// Statistics.
	var sum float64
	far, nsame, flips := 0, 0, 0
	for j, v := range samples {
		sum += v
		if v > spec.FarUs {
			far++
		}
		if same[j] {
			nsame++
		}
		if j > 0 && same[j] != same[j-1] {
			flips++
		}
	}
	for k := 0; k < 10; k++ {
		lo, hi := k*len(same)/10, (k+1)*len(same)/10
		c := 0
		for _, s := range same[lo:hi] {
			if s {
				c++
			}
		}
		res.Tenths = append(res.Tenths, round3(float64(c)/float64(max(hi-lo, 1))))
	}
	n := float64(len(samples))
	res.MeanUs = round3(sum / n)
	res.Far = round3(float64(far) / n)
	res.Same = round3(float64(nsame) / n)
	res.Flips = flips
	sort.Float64s(samples)
	res.MedianUs = round3(pct(samples, 0.5))
	res.P10Us = round3(pct(samples, 0.1))
	res.P90Us = round3(pct(samples, 0.9))
	res.P99Us = round3(pct(samples, 0.99))
	res.Client = cAfter.minus(cBefore).export(0, "client")
	res.WallMs = round3(float64(wall.Microseconds()) / 1e3)
	var tids []int
	for tid := range after {
		tids = append(tids, tid)
	}
	sort.Ints(tids)
	for _, tid := range tids {
		a := after[tid]
		res.ServerT = append(res.ServerT, a.minus(before[tid]).export(tid, a.comm))
	}
	res.OtherMs = round3(othersMs(others0, others))
	res.StealMs = steal - steal0
	return res, nil
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

type rawThread struct {
	comm             string
	vol, invol, migr int64
	runMs            float64
}

func (a rawThread) minus(b rawThread) rawThread {
	return rawThread{a.comm, a.vol - b.vol, a.invol - b.invol, a.migr - b.migr, a.runMs - b.runMs}
}

func (a rawThread) export(tid int, comm string) Thread {
	return Thread{Tid: tid, Comm: comm, Vol: a.vol, Invol: a.invol, Migr: a.migr, RunMs: round3(a.runMs)}
}

func sumThreads(m map[int]rawThread) rawThread {
	var s rawThread
	for _, t := range m {
		s.vol += t.vol
		s.invol += t.invol
		s.migr += t.migr
		s.runMs += t.runMs
	}
	return s
}

// threads reads every thread's counters from /proc/PID/task/*/sched.
func threads(pid int) map[int]rawThread {
	m := map[int]rawThread{}
	dirs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	for _, dir := range dirs {
		tid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/sched")
		if err != nil {
			continue
		}
		var t rawThread
		if c, err := os.ReadFile(dir + "/comm"); err == nil {
			t.comm = strings.TrimSpace(string(c))
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch k {
			case "nr_voluntary_switches":
				t.vol, _ = strconv.ParseInt(v, 10, 64)
			case "nr_involuntary_switches":
				t.invol, _ = strconv.ParseInt(v, 10, 64)
			case "se.nr_migrations":
				t.migr, _ = strconv.ParseInt(v, 10, 64)
			case "se.sum_exec_runtime":
				t.runMs, _ = strconv.ParseFloat(v, 64)
			}
		}
		m[tid] = t
	}
	return m
}

// othersNs is the CPU time every thread on the machine has had so far
// (/proc/*/task/*/schedstat, ns), but for the threads of the given
// processes, by thread: the difference of two calls is what everything
// else took meanwhile (threads that started and ended in between are
// missed).
func othersNs(ours ...int) map[int]int64 {
	skip := map[string]bool{}
	for _, p := range ours {
		skip[strconv.Itoa(p)] = true
	}
	m := map[int]int64{}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if skip[p.Name()] || p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		tasks, _ := os.ReadDir("/proc/" + p.Name() + "/task")
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile("/proc/" + p.Name() + "/task/" + t.Name() + "/schedstat")
			if err != nil {
				continue
			}
			f := strings.Fields(string(b))
			if len(f) > 0 {
				m[tid], _ = strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return m
}

// othersMs is the CPU time the threads of after used since before.
func othersMs(before, after map[int]int64) float64 {
	var ns int64
	for tid, v := range after {
		ns += v - before[tid]
	}
	return float64(ns) / 1e6
}

// stealMs is the steal time of all CPUs so far (/proc/stat: time the
// hypervisor ran something else while a vCPU wanted to run), in ms.
func stealMs() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal
	if len(f) < 9 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[8], 64)
	return v * 10 // USER_HZ 100
}
