// Command lisafs_interop drives a lisafs gofer (ours, dist/gofer, or the
// reference runsc gofer) through gVisor's real client package
// gvisor.dev/gvisor/pkg/lisafs and checks every result against what the host
// filesystem says.
//
// Each configuration launches a fresh gofer on a fresh tmpfs fixture. Every
// check prints `ok   [config] name` or `FAIL [config] name: detail`; the
// last line is a summary and the exit status is 1 if anything failed.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/lisafs"

	"gofer/tests/interop/launcher"
)

// Config is one server configuration and the checks run against it.
type Config struct {
	Name      string
	ReadOnly  bool
	Donate    bool
	HostUDS   string
	XattrUser bool
	// NoChannels skips StartChannels, like the sentry does with directfs.
	NoChannels bool
	Run        func(s *Suite)
}

var configs = []*Config{
	{Name: "rw", Run: (*Suite).runReadWrite},
	{Name: "ro", ReadOnly: true, Run: (*Suite).runReadOnly},
	{Name: "donate", Donate: true, NoChannels: true, Run: (*Suite).runDonate},
	{Name: "uds-open", HostUDS: "open", Run: (*Suite).runUDSOpen},
	{Name: "uds-create", HostUDS: "create", Run: (*Suite).runUDSCreate},
	{Name: "xattr", XattrUser: true, Run: (*Suite).runXattrUser},
}

// ctx is the gVisor context the client methods want.
var ctx = context.Background()

func main() {
	var (
		server    = flag.String("server", launcher.Ours, "gofer to test: ours|ref")
		oursBin   = flag.String("gofer", "dist/gofer", "path of our gofer")
		refBin    = flag.String("runsc", "/opt/gvisor-ref/bin/runsc-stock", "path of the reference runsc")
		which     = flag.String("configs", "all", "comma-separated configurations to run (all: "+configNames()+")")
		workDir   = flag.String("workdir", "", "directory for fixtures (default: a new temp dir)")
		serverLog = flag.String("server-log", "", "append server output to this file (default: print it after a failing configuration)")
		debug     = flag.Bool("debug", false, "run the server with debug logging")
	)
	flag.Parse()
	if *server != launcher.Ours && *server != launcher.Ref {
		fmt.Fprintf(os.Stderr, "--server must be %q or %q\n", launcher.Ours, launcher.Ref)
		os.Exit(2)
	}
	bin, err := filepath.Abs(*oursBin)
	if err != nil {
		fatalf("%v", err)
	}
	if *server == launcher.Ours {
		if _, err := os.Stat(bin); err != nil {
			fatalf("our gofer %s: %v", bin, err)
		}
	} else if _, err := os.Stat(*refBin); err != nil {
		fatalf("reference runsc %s: %v", *refBin, err)
	}

	selected, err := selectConfigs(*which)
	if err != nil {
		fatalf("%v", err)
	}
	base, cleanupBase := *workDir, func() {}
	if base == "" {
		if base, cleanupBase, err = launcher.TempDir("gofer-interop-"); err != nil {
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
		runConfig(cfg, *server, launcher.Options{
			Server:        *server,
			OursBin:       bin,
			RefBin:        *refBin,
			MountDir:      filepath.Join(base, cfg.Name),
			ReadOnly:      cfg.ReadOnly,
			DonateMountFD: cfg.Donate,
			HostUDS:       cfg.HostUDS,
			XattrUser:     cfg.XattrUser,
			Debug:         *debug,
			CPU:           -1,
		}, logFile, totals)
	}
	status := "PASS"
	if totals.Fail > 0 {
		status = "FAIL"
	}
	fmt.Printf("\n%s: %d passed, %d failed (server=%s, configs=%s, %.1fs)\n",
		status, totals.Pass, totals.Fail, *server, *which, time.Since(start).Seconds())
	for _, name := range totals.Failed {
		fmt.Printf("  failed: %s\n", name)
	}
	cleanupBase()
	if totals.Fail > 0 {
		os.Exit(1)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "lisafs_interop: "+format+"\n", args...)
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

func runConfig(cfg *Config, server string, opts launcher.Options, logFile *os.File, totals *Totals) {
	fmt.Printf("=== config %s: %s\n", cfg.Name, opts.CommandLine())
	s := &Suite{cfg: cfg, server: server, totals: totals}
	failsBefore := totals.Fail

	var out launcher.LogBuffer
	opts.Log = &out
	if logFile != nil {
		fmt.Fprintf(logFile, "=== config %s (%s)\n", cfg.Name, server)
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

	s.Check("start gofer and Mount (lisafs.NewClient)", func() error {
		s.g, err = launcher.Start(opts)
		return err
	})
	if s.g == nil {
		s.dumpServerLog(&out)
		return
	}
	s.checkMount()
	cfg.Run(s)
	s.checkClose()

	if cfg.ReadOnly {
		// The server is gone by now; compare the host tree directly.
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

// root returns the mount root's control FD.
func (s *Suite) root() *lisafs.ClientFD {
	return s.fd(s.g.Root.ControlFD)
}

// fd wraps an FD ID (a pointer, as ClientFD methods have pointer receivers).
func (s *Suite) fd(id lisafs.FDID) *lisafs.ClientFD {
	f := s.g.Client.NewFD(id)
	return &f
}
