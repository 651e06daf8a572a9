// Package benchkit is what the lisafs and 9P benchmarks (bench/lisafs,
// bench/p9) share: samples and their timing, the markdown table, the
// report's header lines, CPU pinning and the fixture.
package benchkit

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Metric describes one row of the table.
type Metric struct {
	Name   string
	Unit   string
	Higher bool // higher is better (throughput)
	Scale  float64
	// Pct shows "median (p90 x, p99 y)" instead of just the median.
	Pct bool
}

// Label is the metric's name as the table shows it.
func (m Metric) Label() string {
	if m.Pct {
		return m.Name + ", median"
	}
	return m.Name
}

// Results holds raw samples by column (server) and metric name:
// nanoseconds for latencies, MB/s or ops/s for throughput, KiB for RSS.
type Results map[string]map[string][]float64

// Add records one sample.
func (r Results) Add(col, metric string, v float64) {
	if r[col] == nil {
		r[col] = map[string][]float64{}
	}
	r[col][metric] = append(r[col][metric], v)
}

// Selected, when set, limits Time and Throughput to the metrics whose name
// it matches (--metrics): the others are not run, and left out of the table.
var Selected *regexp.Regexp

func skipped(name string) bool { return Selected != nil && !Selected.MatchString(name) }

// Wanted says whether row name is selected (--metrics), for rows a
// benchmark records without Time or Throughput (memory, start latency).
func Wanted(name string) bool { return !skipped(name) }

// Select sets Selected from a --metrics regexp ("" selects every row).
func Select(expr string) error {
	if expr == "" {
		Selected = nil
		return nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return err
	}
	Selected = re
	return nil
}

// Time runs op warmup+iters times and records the timed iterations (ns)
// as metric name.
func (r Results) Time(col, name string, warmup, iters int, op func() error) error {
	if skipped(name) {
		return nil
	}
	for i := 0; i < warmup; i++ {
		if err := op(); err != nil {
			return fmt.Errorf("%s (warm-up): %w", name, err)
		}
	}
	samples := make([]float64, 0, iters)
	client0, server0, cpuOK := cpuNow()
	for i := 0; i < iters; i++ {
		t := time.Now()
		err := op()
		d := time.Since(t)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		samples = append(samples, float64(d.Nanoseconds()))
	}
	if client1, server1, ok := cpuNow(); cpuOK && ok && iters > 0 {
		r.Add(col, CPUName(name, "client"), float64(client1-client0)/float64(iters))
		r.Add(col, CPUName(name, "server"), float64(server1-server0)/float64(iters))
	}
	for _, v := range samples {
		r.Add(col, name, v)
	}
	r.Add(col, RunName(name, "median"), Percentile(samples, 0.5))
	r.Add(col, RunName(name, "p99"), Percentile(samples, 0.99))
	return nil
}

// RunName is the metric under which Time records one value per run (stat
// "median" or "p99") of metric name: the per-run spread of the ratios comes
// from these.
func RunName(name, stat string) string { return name + ", per-run " + stat }

// Throughput runs pass, which reads size bytes, passes times after one
// untimed warm-up pass and records MB/s as metric name.
func (r Results) Throughput(col, name string, passes, size int, pass func() error) error {
	if skipped(name) {
		return nil
	}
	for p := -1; p < passes; p++ {
		t := time.Now()
		if err := pass(); err != nil {
			return err
		}
		if p >= 0 { // pass -1 is the warm-up
			r.Add(col, name, float64(size)/1e6/time.Since(t).Seconds())
		}
	}
	return nil
}

// ServerPID is the server process the current run measures (0: none):
// Time also records the CPU time it and this client process use per
// iteration, so a table can tell which side a latency difference is on
// (pinned to one CPU, a server can make the client slower, or the reverse).
var ServerPID int

// CPUName is the metric under which Time records side's ("client" or
// "server") CPU time per iteration of metric name.
func CPUName(name, side string) string { return name + ", " + side + " CPU per iteration" }

// cpuNote heads the table of cpuMetrics.
const cpuNote = "CPU time per iteration: the client's (the benchmark process, all its threads) and the server's (all its threads), the mean over each run's timed iterations (from /proc/PID/task/*/schedstat), median of the runs:"

// cpuMetrics are the rows of the CPU table for the latency metrics of ms.
func cpuMetrics(ms []Metric) []Metric {
	var out []Metric
	for _, m := range ms {
		unit, scale := m.Unit, m.Scale
		switch {
		case m.Higher && m.Unit == "ops/s":
			unit, scale = "µs", 1e-3 // Concurrent: CPU per operation
		case !m.Pct || m.Higher:
			continue
		}
		for _, side := range []string{"client", "server"} {
			out = append(out, Metric{Name: CPUName(m.Name, side), Unit: unit, Scale: scale})
		}
	}
	return out
}

// cpuNow reads the CPU time (ns) used so far by every thread of this process
// and of ServerPID, from /proc/PID/task/TID/schedstat (exact, unlike the
// tick-sampled utime and stime).
func cpuNow() (client, server int64, ok bool) {
	if ServerPID == 0 {
		return 0, 0, false
	}
	client, err1 := threadsCPU(os.Getpid())
	server, err2 := threadsCPU(ServerPID)
	return client, server, err1 == nil && err2 == nil
}

func threadsCPU(pid int) (int64, error) {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(stats) == 0 {
		return 0, fmt.Errorf("no schedstat for %d", pid)
	}
	var sum int64
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that ended
		}
		v, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// Percentile returns the p-quantile (0..1) of v (0 for no samples).
func Percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[int(p*float64(len(s)-1)+0.5)]
}

// Format prints v with 3 to 4 significant digits.
func Format(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// Cell renders samples of m: "median unit" or "median unit (p90 x, p99 y)", or
// "–" without samples.
func Cell(m Metric, samples []float64) string {
	if len(samples) == 0 {
		return "–"
	}
	med := Percentile(samples, 0.5) * m.Scale
	if !m.Pct {
		return fmt.Sprintf("%s %s", Format(med), m.Unit)
	}
	return fmt.Sprintf("%s %s (p90 %s, p99 %s)", Format(med), m.Unit, Format(Percentile(samples, 0.9)*m.Scale), Format(Percentile(samples, 0.99)*m.Scale))
}

// Ratio renders the ratio of the medians of x and base, or "–".
func Ratio(m Metric, x, base []float64) string {
	if len(base) == 0 || len(x) == 0 {
		return "–"
	}
	r := Percentile(x, 0.5) / Percentile(base, 0.5)
	if m.Higher {
		return fmt.Sprintf("%.2f× (higher is better)", r)
	}
	return fmt.Sprintf("%.2f× (lower is better)", r)
}

// Column is one server's column of the table.
type Column struct {
	Key   string // in Results
	Title string
	// Ratio heads the column of this column's ratio to the base column.
	Ratio string
}

// Table is the report's markdown table: a metric per row, the base column,
// then each other column followed by its ratio to the base.
type Table struct {
	Metrics []Metric
	Base    Column
	Others  []Column
	// Cell, if set, renders a cell instead of the package's Cell.
	Cell func(m Metric, col string, samples []float64) string
}

// measured says whether any column has samples of m.
func (t Table) measured(res Results, m Metric) bool {
	if len(res[t.Base.Key][m.Name]) > 0 {
		return true
	}
	for _, c := range t.Others {
		if len(res[c.Key][m.Name]) > 0 {
			return true
		}
	}
	return false
}

// Report renders the table for res, then the client's and the server's CPU
// time per iteration of its latency metrics (what Time recorded).
func (t Table) Report(res Results) string {
	cpu := t
	cpu.Metrics = cpuMetrics(t.Metrics)
	out := t.Render(res) + "\n" + cpuNote + "\n\n" + cpu.Render(res)
	if spread := t.RenderSpread(res); spread != "" {
		out += "\n" + spreadNote + "\n\n" + spread
	}
	return out
}

// spreadNote heads the table of per-run ratios.
const spreadNote = "Per-run ratios: each run's median (and p99; for an ops/s row, the run's rate, higher is better) against the base column's run of the same round (runs alternate, so round i of both saw the same machine): smallest, lower quartile, median, upper quartile, largest, over the rounds:"

// RenderSpread renders, for each latency metric, the spread of the per-run
// ratios of each other column to the base column (run i against run i).
func (t Table) RenderSpread(res Results) string {
	var b strings.Builder
	for _, c := range t.Others {
		for _, m := range t.Metrics {
			// Latency rows, and throughput rows that record a value per
			// run (Concurrent); the others have no per-run values.
			for _, stat := range []string{"median", "p99"} {
				x, base := res[c.Key][RunName(m.Name, stat)], res[t.Base.Key][RunName(m.Name, stat)]
				n := min(len(x), len(base))
				if n == 0 {
					continue
				}
				if b.Len() == 0 {
					b.WriteString("| metric | runs | min | q1 | median | q3 | max |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
				}
				r := make([]float64, n)
				for i := range r {
					r[i] = x[i] / base[i]
				}
				fmt.Fprintf(&b, "| %s, %s %s / %s | %d |", m.Name, stat, c.Title, t.Base.Title, n)
				for _, q := range []float64{0, 0.25, 0.5, 0.75, 1} {
					fmt.Fprintf(&b, " %.2f× |", Quantile(r, q))
				}
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

// Quantile is the q-quantile of v by linear interpolation (0 for none).
func Quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}

// Render renders the table for res; a row no column measured is left out.
func (t Table) Render(res Results) string {
	cell := t.Cell
	if cell == nil {
		cell = func(m Metric, _ string, samples []float64) string { return Cell(m, samples) }
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| metric | %s |", t.Base.Title)
	for _, c := range t.Others {
		fmt.Fprintf(&b, " %s | %s |", c.Title, c.Ratio)
	}
	b.WriteString("\n| --- | ---: |")
	for range t.Others {
		b.WriteString(" ---: | ---: |")
	}
	b.WriteString("\n")
	for _, m := range t.Metrics {
		if !t.measured(res, m) {
			continue // not selected (--metrics) or not measured in this run
		}
		base := res[t.Base.Key][m.Name]
		fmt.Fprintf(&b, "| %s | %s |", m.Label(), cell(m, t.Base.Key, base))
		for _, c := range t.Others {
			x := res[c.Key][m.Name]
			fmt.Fprintf(&b, " %s | %s |", cell(m, c.Key, x), Ratio(m, x, base))
		}
		b.WriteString("\n")
	}
	return b.String()
}
