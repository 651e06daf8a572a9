package benchkit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Levels are the client goroutine counts of the concurrency rows (issue 17).
var Levels = []int{1, 2, 4, 8}

// ConcurrentName is the row of op run by n client goroutines at once, e.g.
// "concurrent fstat x4" (--metrics 'concurrent' selects them all,
// 'concurrent fstat x8' one).
func ConcurrentName(op string, n int) string { return fmt.Sprintf("concurrent %s x%d", op, n) }

// ConcurrentMetrics are the rows of ops at every level: aggregate ops/s,
// higher is better.
func ConcurrentMetrics(ops ...string) []Metric {
	var ms []Metric
	for _, op := range ops {
		for _, n := range Levels {
			ms = append(ms, Metric{Name: ConcurrentName(op, n), Unit: "ops/s", Higher: true, Scale: 1})
		}
	}
	return ms
}

// ConcurrentSelected says whether any row of op is selected (--metrics), so
// a benchmark can skip setting up clients it would not use.
func ConcurrentSelected(op string) bool {
	for _, n := range Levels {
		if !skipped(ConcurrentName(op, n)) {
			return true
		}
	}
	return false
}

// Concurrent runs op in n goroutines at once (op(g) is goroutine g's
// operation, on its own channel or connection), each first warmup times
// untimed, then all together for d, and records the aggregate operations
// per second as metric name. An operation still in flight when d ends is
// waited for and counted, so the rate is completed ops over the time until
// the last one completed. It also records the client's and the server's
// (ServerPID's) CPU time per operation, and the run's value under
// RunName(name, "median") for the per-run spread.
func (r Results) Concurrent(col, name string, n, warmup int, d time.Duration, op func(g int) error) error {
	if skipped(name) {
		return nil
	}
	var (
		ready, done sync.WaitGroup
		start       = make(chan struct{})
		stop        atomic.Bool
		counts      = make([]int64, n)
		errs        = make([]error, n)
	)
	ready.Add(n)
	done.Add(n)
	for g := 0; g < n; g++ {
		go func(g int) {
			defer done.Done()
			for i := 0; i < warmup; i++ {
				if err := op(g); err != nil {
					errs[g] = fmt.Errorf("%s (warm-up, goroutine %d): %w", name, g, err)
					break
				}
			}
			ready.Done()
			<-start
			if errs[g] != nil {
				return
			}
			var c int64
			for !stop.Load() {
				if err := op(g); err != nil {
					errs[g] = fmt.Errorf("%s (goroutine %d): %w", name, g, err)
					break
				}
				c++
			}
			counts[g] = c
		}(g)
	}
	ready.Wait()
	client0, server0, cpuOK := cpuNow()
	t0 := time.Now()
	close(start)
	time.Sleep(d)
	stop.Store(true)
	done.Wait()
	elapsed := time.Since(t0)
	client1, server1, ok := cpuNow()
	var total int64
	for g := 0; g < n; g++ {
		if errs[g] != nil {
			return errs[g]
		}
		total += counts[g]
	}
	if total == 0 {
		return fmt.Errorf("%s: no operation completed in %v", name, elapsed)
	}
	if cpuOK && ok {
		r.Add(col, CPUName(name, "client"), float64(client1-client0)/float64(total))
		r.Add(col, CPUName(name, "server"), float64(server1-server0)/float64(total))
	}
	rate := float64(total) / elapsed.Seconds()
	r.Add(col, name, rate)
	r.Add(col, RunName(name, "median"), rate)
	return nil
}
