// Package harness is what the lisafs and 9P interop tests
// (tests/interop/lisafs_interop, tests/interop/p9_interop) share apart from
// launching a gofer (package launcher): the check runner and its report
// lines, the configuration setup, the host fixture tree, and the helpers
// that compare what a client got with what the host says.
package harness

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"gofer/tests/interop/launcher"
)

// CheckTimeout bounds a single check; a server that hangs fails the check
// and the rest of its configuration.
const CheckTimeout = 30 * time.Second

// Totals accumulates results over all configurations.
type Totals struct {
	Pass, Fail int
	Failed     []string
}

// Server is the gofer under test as the runner sees it (*launcher.Gofer
// and the 9P test's Gofer, through their *launcher.Process).
type Server interface {
	Exited() bool
	ExitStatus() string
	WaitExit(timeout time.Duration) bool
	Kill()
}

// Runner runs the checks of one configuration and prints their results:
// `ok   [config] name` or `FAIL [config] name: detail`.
type Runner struct {
	// Config is the configuration's name.
	Config string
	Totals *Totals
	// Server is the gofer under test, once it has started.
	Server Server
	// Broken is non-empty once the server hung or died: the remaining
	// checks are reported as not run.
	Broken string

	failsBefore int
	log         launcher.LogBuffer
	// The read-only configuration's fixture and its snapshot.
	roFixture *Fixture
	roBefore  map[string]string
}

// NewRunner starts the report of configuration config.
func NewRunner(config string, totals *Totals) *Runner {
	return &Runner{Config: config, Totals: totals, failsBefore: totals.Fail}
}

// Report counts and prints the result of one check.
func (r *Runner) Report(name string, err error) {
	full := "[" + r.Config + "] " + name
	if err == nil {
		r.Totals.Pass++
		fmt.Printf("ok   %s\n", full)
		return
	}
	r.Totals.Fail++
	r.Totals.Failed = append(r.Totals.Failed, full)
	fmt.Printf("FAIL %s: %s\n", full, strings.ReplaceAll(err.Error(), "\n", "\n     "))
}

// Check runs fn as one named check and prints its result.
func (r *Runner) Check(name string, fn func() error) {
	if r.Broken != "" {
		r.Report(name, fmt.Errorf("not run: %s", r.Broken))
		return
	}
	if r.Server != nil && r.Server.Exited() {
		r.Broken = "server exited unexpectedly: " + r.Server.ExitStatus()
		r.Report(name, fmt.Errorf("not run: %s", r.Broken))
		return
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v\n%s", p, debug.Stack())
			}
		}()
		done <- fn()
	}()
	select {
	case err := <-done:
		r.Report(name, err)
		if err != nil && r.Server != nil && r.Server.WaitExit(300*time.Millisecond) {
			// Don't cascade: the remaining checks of this configuration
			// are reported as not run.
			r.Broken = "server died: " + r.Server.ExitStatus()
			fmt.Printf("     (%s)\n", r.Broken)
		}
	case <-time.After(CheckTimeout):
		r.Broken = fmt.Sprintf("check %q hung for %v", name, CheckTimeout)
		r.Report(name, errors.New("timed out (server hung?); killing the server"))
		if r.Server != nil {
			r.Server.Kill()
		}
	}
}

// Info prints an informational line that is neither a pass nor a failure.
func (r *Runner) Info(format string, args ...any) {
	fmt.Printf("info [%s] %s\n", r.Config, fmt.Sprintf(format, args...))
}

// Failed reports whether a check of this configuration has failed.
func (r *Runner) Failed() bool {
	return r.Totals.Fail > r.failsBefore
}

// ServerLog returns where the server's output goes: into memory, for
// DumpServerLog, and with file also there, after a header line.
func (r *Runner) ServerLog(file *os.File, header string) io.Writer {
	if file == nil {
		return &r.log
	}
	fmt.Fprintln(file, header)
	return io.MultiWriter(&r.log, file)
}

// DumpServerLog prints the end of the server's output.
func (r *Runner) DumpServerLog() {
	lines := r.log.Tail(60)
	if len(lines) == 0 {
		fmt.Printf("---- server output (config %s): <empty>\n", r.Config)
		return
	}
	fmt.Printf("---- server output (config %s), last %d lines:\n", r.Config, len(lines))
	for _, l := range lines {
		fmt.Printf("  | %s\n", l)
	}
}

// SetUpFixture runs the configuration's first check, "fixture", which
// creates tree in dir. For a read-only configuration it also snapshots the
// tree for CheckTreeUnchanged. It returns nil if that failed; else the
// caller destroys the fixture when done.
func (r *Runner) SetUpFixture(dir string, tree Tree, readOnly bool) *Fixture {
	var fx *Fixture
	r.Check("fixture", func() (err error) {
		fx, err = NewFixture(dir, tree)
		return err
	})
	if fx == nil || !readOnly {
		return fx
	}
	before, err := fx.Snapshot()
	if err != nil {
		r.Report("snapshot before", err)
		fx.Destroy()
		return nil
	}
	r.roFixture, r.roBefore = fx, before
	return fx
}

// CheckTreeUnchanged, in a read-only configuration, reports whether the
// host tree still matches the snapshot SetUpFixture took before the server
// started.
func (r *Runner) CheckTreeUnchanged() {
	if r.roFixture == nil {
		return
	}
	after, err := r.roFixture.Snapshot()
	if err == nil {
		if d := DiffSnapshots(r.roBefore, after); d != "" {
			err = fmt.Errorf("host tree changed:\n%s", d)
		}
	}
	r.Report("ro: host tree unchanged after all mutations were refused", err)
}
