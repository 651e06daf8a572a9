package harness

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"gofer/tests/interop/launcher"
)

// Flags are the command-line flags both interop programs have.
type Flags struct {
	Gofer, Configs, WorkDir, ServerLog *string
	Debug                              *bool
}

// DefineFlags defines the common flags; all lists the configurations.
func DefineFlags(all string) Flags {
	return Flags{
		Gofer:     flag.String("gofer", "dist/gofer", "path of our gofer"),
		Configs:   flag.String("configs", "all", "comma-separated configurations to run (all: "+all+")"),
		WorkDir:   flag.String("workdir", "", "directory for fixtures (default: a new temp dir)"),
		ServerLog: flag.String("server-log", "", "append server output to this file (default: print it after a failing configuration)"),
		Debug:     flag.Bool("debug", false, "run the server with debug logging"),
	}
}

// Names lists the configurations' names, comma-separated.
func Names[C any](all []C, name func(C) string) string {
	var names []string
	for _, c := range all {
		names = append(names, name(c))
	}
	return strings.Join(names, ",")
}

// Select returns the configurations which names: "all" or a comma-separated
// list of names.
func Select[C any](all []C, which string, name func(C) string) ([]C, error) {
	if which == "all" {
		return all, nil
	}
	var out []C
	for _, n := range strings.Split(which, ",") {
		found := false
		for _, c := range all {
			if name(c) == n {
				out = append(out, c)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown configuration %q (have %s)", n, Names(all, name))
		}
	}
	return out, nil
}

// Session is one run of an interop program over its configurations.
type Session struct {
	// Base is the directory under which each configuration gets its fixture.
	Base string
	// LogFile receives every server's output (--server-log), or is nil.
	LogFile *os.File
	Totals  *Totals

	removeBase func()
	start      time.Time
}

// NewSession creates the fixtures' base directory (workDir, or a new
// temporary directory named after prefix) and opens serverLog, if set.
func NewSession(prefix, workDir, serverLog string) (*Session, error) {
	s := &Session{Base: workDir, Totals: &Totals{}, removeBase: func() {}, start: time.Now()}
	var err error
	if s.Base == "" {
		if s.Base, s.removeBase, err = launcher.TempDir(prefix); err != nil {
			return nil, err
		}
	}
	if serverLog != "" {
		if s.LogFile, err = os.OpenFile(serverLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			s.removeBase()
			return nil, err
		}
	}
	return s, nil
}

// Finish prints the summary line (what describes the run) and the failed
// checks, removes the base directory and exits with status 1 if anything
// failed.
func (s *Session) Finish(what string) {
	t := s.Totals
	status := "PASS"
	if t.Fail > 0 {
		status = "FAIL"
	}
	fmt.Printf("\n%s: %d passed, %d failed (%s, %.1fs)\n",
		status, t.Pass, t.Fail, what, time.Since(s.start).Seconds())
	for _, name := range t.Failed {
		fmt.Printf("  failed: %s\n", name)
	}
	s.removeBase()
	if s.LogFile != nil {
		s.LogFile.Close()
	}
	if t.Fail > 0 {
		os.Exit(1)
	}
}
