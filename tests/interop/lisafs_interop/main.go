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
	"os"
	"path/filepath"

	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/lisafs"

	"gofer/tests/interop/harness"
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

// configName names a configuration for harness.Names and harness.Select.
func configName(c *Config) string { return c.Name }

func main() {
	var (
		server = flag.String("server", launcher.Ours, "gofer to test: ours|ref")
		refBin = flag.String("runsc", defaultRunsc(), "path of the reference runsc (today's for the gvisor_today build)")
		flags  = harness.DefineFlags(harness.Names(configs, configName))
	)
	flag.Parse()
	if *server != launcher.Ours && *server != launcher.Ref {
		fmt.Fprintf(os.Stderr, "--server must be %q or %q\n", launcher.Ours, launcher.Ref)
		os.Exit(2)
	}
	bin, err := filepath.Abs(*flags.Gofer)
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

	selected, err := harness.Select(configs, *flags.Configs, configName)
	if err != nil {
		fatalf("%v", err)
	}
	session, err := harness.NewSession("gofer-interop-", *flags.WorkDir, *flags.ServerLog)
	if err != nil {
		fatalf("%v", err)
	}
	for _, cfg := range selected {
		runConfig(cfg, *server, launcher.Options{
			Server:        *server,
			OursBin:       bin,
			RefBin:        *refBin,
			MountDir:      filepath.Join(session.Base, cfg.Name),
			ReadOnly:      cfg.ReadOnly,
			DonateMountFD: cfg.Donate,
			HostUDS:       cfg.HostUDS,
			XattrUser:     cfg.XattrUser,
			Debug:         *flags.Debug,
			Today:         today,
			CPU:           -1,
		}, session)
	}
	session.Finish(fmt.Sprintf("client=%s, server=%s, configs=%s", clientGeneration, *server, *flags.Configs))
}

// defaultRunsc is the reference for this binary's client: runsc-stock
// (20240729) or runsc-latest (today's gVisor).
func defaultRunsc() string {
	if today {
		return "/opt/gvisor-ref/bin/runsc-latest"
	}
	return "/opt/gvisor-ref/bin/runsc-stock"
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "lisafs_interop: "+format+"\n", args...)
	os.Exit(2)
}

func runConfig(cfg *Config, server string, opts launcher.Options, session *harness.Session) {
	fmt.Printf("=== config %s (client %s): %s\n", cfg.Name, clientGeneration, opts.CommandLine())
	s := &Suite{Runner: harness.NewRunner(cfg.Name, session.Totals), cfg: cfg, server: server}
	opts.Log = s.ServerLog(session.LogFile, fmt.Sprintf("=== config %s (%s)", cfg.Name, server))

	s.fx = s.SetUpFixture(opts.MountDir, tree, cfg.ReadOnly)
	if s.fx == nil {
		return
	}
	defer s.fx.Destroy()

	s.Check("start gofer and Mount (lisafs.NewClient)", func() (err error) {
		s.g, err = launcher.Start(opts)
		return err
	})
	if s.g == nil {
		s.DumpServerLog()
		return
	}
	s.Server = s.g
	s.checkMount()
	cfg.Run(s)
	s.runToday()
	s.checkClose()

	// Read-only configurations: the server is gone by now; compare the host
	// tree directly.
	s.CheckTreeUnchanged()
	if s.Failed() && session.LogFile == nil {
		s.DumpServerLog()
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
