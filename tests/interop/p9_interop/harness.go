package main

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/p9"
)

// checkTimeout bounds a single check; a server that hangs fails the check and
// the rest of its configuration.
const checkTimeout = 30 * time.Second

// Totals accumulates results over all configurations.
type Totals struct {
	Pass, Fail int
	Failed     []string
}

// Suite runs the checks of one configuration against one gofer.
type Suite struct {
	cfg    *Config
	g      *Gofer
	c      *p9.Client
	root   p9.File // the attached root; never opened, never closed by checks
	fx     *Fixture
	totals *Totals
	broken string // non-empty once the server hung or died
}

// version is the negotiated 9P2000.L.Google version.
func (s *Suite) version() uint32 { return s.c.Version() }

func (s *Suite) report(name string, err error) {
	full := "[" + s.cfg.Name + "] " + name
	if err == nil {
		s.totals.Pass++
		fmt.Printf("ok   %s\n", full)
		return
	}
	s.totals.Fail++
	s.totals.Failed = append(s.totals.Failed, full)
	fmt.Printf("FAIL %s: %s\n", full, strings.ReplaceAll(err.Error(), "\n", "\n     "))
}

// Check runs fn as one named check and prints its result.
func (s *Suite) Check(name string, fn func() error) {
	if s.broken != "" {
		s.report(name, fmt.Errorf("not run: %s", s.broken))
		return
	}
	if s.g != nil && s.g.Exited() {
		s.broken = "server exited unexpectedly: " + s.g.ExitStatus()
		s.report(name, fmt.Errorf("not run: %s", s.broken))
		return
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		done <- fn()
	}()
	select {
	case err := <-done:
		s.report(name, err)
		if err != nil && s.g != nil && s.g.WaitExit(300*time.Millisecond) {
			s.broken = "server died: " + s.g.ExitStatus()
			fmt.Printf("     (%s)\n", s.broken)
		}
	case <-time.After(checkTimeout):
		s.broken = fmt.Sprintf("check %q hung for %v", name, checkTimeout)
		s.report(name, errors.New("timed out (server hung?); killing the server"))
		if s.g != nil {
			s.g.Kill()
		}
	}
}

// Info prints an informational line that is neither a pass nor a failure.
func (s *Suite) Info(format string, args ...any) {
	fmt.Printf("info [%s] %s\n", s.cfg.Name, fmt.Sprintf(format, args...))
}

// errnoOf extracts a unix.Errno from err (0 if none).
func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

func errName(err error) string {
	if err == nil {
		return "success"
	}
	if e := errnoOf(err); e != 0 {
		return fmt.Sprintf("%s (%s)", unix.ErrnoName(e), e.Error())
	}
	return err.Error()
}

// wantErrno returns nil if err is one of the wanted errnos.
func wantErrno(err error, want ...unix.Errno) error {
	got := errnoOf(err)
	for _, w := range want {
		if err != nil && got == w {
			return nil
		}
	}
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = unix.ErrnoName(w)
	}
	return fmt.Errorf("got %s, want %s", errName(err), strings.Join(names, " or "))
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %s", what, errName(err))
}

// errs collects mismatches within one check.
type errs []string

func (e *errs) add(format string, args ...any) { *e = append(*e, fmt.Sprintf(format, args...)) }

// want records a mismatch if err is not one of the wanted errnos.
func (e *errs) want(what string, err error, want ...unix.Errno) {
	if w := wantErrno(err, want...); w != nil {
		e.add("%s: %v", what, w)
	}
}

// ok records err (if any) as a failure of what.
func (e *errs) ok(what string, err error) bool {
	if err != nil {
		e.add("%s: %s", what, errName(err))
		return false
	}
	return true
}

func (e *errs) err() error {
	if len(*e) == 0 {
		return nil
	}
	return errors.New(strings.Join(*e, "; "))
}
