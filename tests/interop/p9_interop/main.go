// Command p9_interop drives our gofer (dist/gofer) over 9P2000.L with
// gVisor's "Google" extensions through gVisor's real client package
// gvisor.dev/gvisor/pkg/p9, and checks every result against what the host
// filesystem says and against the errnos gVisor's p9 gofer gives (its
// server-side handlers in pkg/p9/handlers.go in front of the fsgofer file
// implementation, ../shared/seeds/fsgofer.go).
//
// Each configuration launches a fresh gofer on a fresh tmpfs fixture and
// negotiates a protocol version: at 9P2000.L.Google.8 and above the client
// moves to flipcall channels by itself; lower versions stay on the socket
// and make the client fall back to older messages (Tlcreate instead of
// Tucreate, Twalk+Tgetattr instead of Twalkgetattr, ...). Every check prints
// `ok   [config] name` or `FAIL [config] name: detail`; the last line is a
// summary and the exit status is 1 if anything failed.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gofer/tests/interop/launcher"
)

// Config is one server configuration and the checks run against it.
type Config struct {
	Name string
	// Version is the Tversion string the client starts from.
	Version   string
	ReadOnly  bool
	HostUDS   string
	HostFifo  string
	XattrUser bool
	// Protocol, if set, is passed as --protocol (else the gofer's default,
	// auto-detection from the first bytes).
	Protocol string
	Run      func(s *Suite)
}

const (
	v13 = "9P2000.L.Google.13"
	v7  = "9P2000.L.Google.7" // the last version without flipcall channels
	v0  = "9P2000.L"
)

var configs = []*Config{
	{Name: "rw", Version: v13, Run: (*Suite).runReadWrite},
	{Name: "rw-nochan", Version: v7, Run: (*Suite).runReadWrite},
	{Name: "v0", Version: v0, Run: (*Suite).runReadWrite},
	{Name: "ro", Version: v13, ReadOnly: true, Run: (*Suite).runReadOnly},
	{Name: "ro-nochan", Version: v7, ReadOnly: true, Run: (*Suite).runReadOnly},
	{Name: "uds", Version: v13, HostUDS: "open", Run: (*Suite).runUDS},
	{Name: "uds-nochan", Version: v7, HostUDS: "open", Run: (*Suite).runUDS},
	{Name: "fifo", Version: v13, HostFifo: "open", Run: (*Suite).runFifo},
	{Name: "xattr", Version: v13, XattrUser: true, Run: (*Suite).runXattrUser},
	{Name: "proto-p9", Version: v13, Protocol: "p9", Run: (*Suite).runProtocolP9},
	{Name: "xattr-ro", Version: v13, XattrUser: true, ReadOnly: true, Run: (*Suite).runXattrReadOnly},
}

func main() {
	var (
		bin       = flag.String("gofer", "dist/gofer", "path of our gofer")
		which     = flag.String("configs", "all", "comma-separated configurations to run (all: "+configNames()+")")
		protocol  = flag.String("protocol", "", "pass --protocol to the gofer (default: its own default, auto)")
		workDir   = flag.String("workdir", "", "directory for fixtures (default: a new temp dir)")
		serverLog = flag.String("server-log", "", "append server output to this file (default: print it after a failing configuration)")
		debug     = flag.Bool("debug", false, "run the server with debug logging")
	)
	flag.Parse()
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fatalf("%v", err)
	}
	if _, err := os.Stat(abs); err != nil {
		fatalf("our gofer %s: %v", abs, err)
	}
	selected, err := selectConfigs(*which)
	if err != nil {
		fatalf("%v", err)
	}
	base, cleanupBase := *workDir, func() {}
	if base == "" {
		if base, cleanupBase, err = launcher.TempDir("gofer-p9-interop-"); err != nil {
			fatalf("%v", err)
		}
	}
	var logFile *os.File
	if *serverLog != "" {
		if logFile, err = os.OpenFile(*serverLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			fatalf("%v", err)
		}
		defer logFile.Close()
	}

	totals := &Totals{}
	start := time.Now()
	for _, cfg := range selected {
		runConfig(cfg, GoferOpts{
			Bin:       abs,
			MountDir:  filepath.Join(base, cfg.Name),
			ReadOnly:  cfg.ReadOnly,
			HostUDS:   cfg.HostUDS,
			HostFifo:  cfg.HostFifo,
			XattrUser: cfg.XattrUser,
			Protocol:  protocolFor(cfg, *protocol),
			Debug:     *debug,
		}, logFile, totals)
	}
	status := "PASS"
	if totals.Fail > 0 {
		status = "FAIL"
	}
	fmt.Printf("\n%s: %d passed, %d failed (p9, configs=%s, %.1fs)\n",
		status, totals.Pass, totals.Fail, *which, time.Since(start).Seconds())
	for _, name := range totals.Failed {
		fmt.Printf("  failed: %s\n", name)
	}
	cleanupBase()
	if totals.Fail > 0 {
		os.Exit(1)
	}
}

func protocolFor(cfg *Config, flagValue string) string {
	if cfg.Protocol != "" {
		return cfg.Protocol
	}
	return flagValue
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "p9_interop: "+format+"\n", args...)
	os.Exit(2)
}

func configNames() string {
	var names []string
	for _, c := range configs {
		names = append(names, c.Name)
	}
	return strings.Join(names, ",")
}

func selectConfigs(which string) ([]*Config, error) {
	if which == "all" {
		return configs, nil
	}
	var out []*Config
	for _, name := range strings.Split(which, ",") {
		found := false
		for _, c := range configs {
			if c.Name == name {
				out = append(out, c)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown configuration %q (have %s)", name, configNames())
		}
	}
	return out, nil
}

func runConfig(cfg *Config, opts GoferOpts, logFile *os.File, totals *Totals) {
	fmt.Printf("=== config %s (client asks %s): %s\n", cfg.Name, cfg.Version, opts.CommandLine())
	s := &Suite{cfg: cfg, totals: totals}
	failsBefore := totals.Fail

	var out launcher.LogBuffer
	opts.Log = &out
	if logFile != nil {
		fmt.Fprintf(logFile, "=== config %s\n", cfg.Name)
		opts.Log = io.MultiWriter(&out, logFile)
	}

	var err error
	s.Check("fixture", func() error {
		s.fx, err = NewFixture(opts.MountDir)
		return err
	})
	if s.fx == nil {
		return
	}
	defer s.fx.Destroy()

	var before map[string]string
	if cfg.ReadOnly {
		if before, err = s.fx.Snapshot(); err != nil {
			s.report("snapshot before", err)
			return
		}
	}

	s.Check("start gofer", func() error {
		s.g, err = StartGofer(opts)
		return err
	})
	if s.g == nil {
		s.dumpServerLog(&out)
		return
	}
	defer s.g.Kill()
	s.checkVersion(opts)
	if s.c != nil {
		s.checkAttach()
	}
	if s.root != nil {
		cfg.Run(s)
		s.checkClose()
	} else {
		s.broken = "no client or no root"
	}

	if cfg.ReadOnly {
		after, err := s.fx.Snapshot()
		if err == nil {
			if d := diffSnapshots(before, after); d != "" {
				err = fmt.Errorf("host tree changed:\n%s", d)
			}
		}
		s.report("ro: host tree unchanged after all mutations were refused", err)
	}
	if totals.Fail > failsBefore && logFile == nil {
		s.dumpServerLog(&out)
	}
}

func (s *Suite) dumpServerLog(out *launcher.LogBuffer) {
	lines := out.Tail(60)
	if len(lines) == 0 {
		fmt.Printf("---- server output (config %s): <empty>\n", s.cfg.Name)
		return
	}
	fmt.Printf("---- server output (config %s), last %d lines:\n", s.cfg.Name, len(lines))
	for _, l := range lines {
		fmt.Printf("  | %s\n", l)
	}
}

// Configurations.

func (s *Suite) runReadWrite() {
	s.checkReads()
	s.checkErrorsCommon()
	s.checkCreate()
	s.checkWrite()
	s.checkSetAttr()
	s.checkLinkUnlink()
	s.checkRename()
	s.checkRemove()
	s.checkHostSwap()
	s.checkXattrRefused()
	s.checkManyFids()
	s.checkConcurrent()
}

func (s *Suite) runReadOnly() {
	s.checkReads()
	s.checkErrorsCommon()
	s.checkEROFS()
	s.checkRemoveEROFS()
	s.checkXattrRefused()
	s.checkManyFids()
	s.checkConcurrent()
}

// runProtocolP9: --protocol p9 instead of auto-detection.
func (s *Suite) runProtocolP9() {
	s.checkReads()
	s.checkSecondAttach()
}

func (s *Suite) runUDS() {
	s.checkConnect()
}

func (s *Suite) runFifo() {
	s.checkFifo()
}

func (s *Suite) runXattrUser() {
	s.checkXattrUser()
}

func (s *Suite) runXattrReadOnly() {
	s.checkXattrReadOnly()
}
