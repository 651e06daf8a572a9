// Command p9_interop drives our gofer (dist/gofer) over 9P2000.L with
// gVisor's "Google" extensions through gVisor's real client package
// gvisor.dev/gvisor/pkg/p9, and checks every result against what the host
// filesystem says and against the errnos gVisor's p9 gofer gives (its
// server-side handlers in pkg/p9/handlers.go in front of gVisor's 2021 p9
// fsgofer, ../shared/seeds/fsgofer.go).
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
	"os"
	"path/filepath"

	"gofer/tests/interop/harness"
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

// configName names a configuration for harness.Names and harness.Select.
func configName(c *Config) string { return c.Name }

func main() {
	var (
		protocol = flag.String("protocol", "", "pass --protocol to the gofer (default: its own default, auto)")
		flags    = harness.DefineFlags(harness.Names(configs, configName))
	)
	flag.Parse()
	abs, err := filepath.Abs(*flags.Gofer)
	if err != nil {
		fatalf("%v", err)
	}
	if _, err := os.Stat(abs); err != nil {
		fatalf("our gofer %s: %v", abs, err)
	}
	selected, err := harness.Select(configs, *flags.Configs, configName)
	if err != nil {
		fatalf("%v", err)
	}
	session, err := harness.NewSession("gofer-p9-interop-", *flags.WorkDir, *flags.ServerLog)
	if err != nil {
		fatalf("%v", err)
	}
	for _, cfg := range selected {
		runConfig(cfg, launcher.Options{
			Server:    launcher.Ours,
			OursBin:   abs,
			MountDir:  filepath.Join(session.Base, cfg.Name),
			ReadOnly:  cfg.ReadOnly,
			HostUDS:   cfg.HostUDS,
			HostFifo:  cfg.HostFifo,
			XattrUser: cfg.XattrUser,
			Protocol:  protocolFor(cfg, *protocol),
			Debug:     *flags.Debug,
			CPU:       -1,
		}, session)
	}
	session.Finish("p9, configs=" + *flags.Configs)
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

func runConfig(cfg *Config, opts launcher.Options, session *harness.Session) {
	fmt.Printf("=== config %s (client asks %s): %s\n", cfg.Name, cfg.Version, opts.CommandLine())
	s := &Suite{Runner: harness.NewRunner(cfg.Name, session.Totals), cfg: cfg}
	opts.Log = s.ServerLog(session.LogFile, "=== config "+cfg.Name)

	s.fx = s.SetUpFixture(opts.MountDir, tree, cfg.ReadOnly)
	if s.fx == nil {
		return
	}
	defer s.fx.Destroy()

	s.Check("start gofer", func() (err error) {
		s.g, err = StartGofer(opts)
		return err
	})
	if s.g == nil {
		s.DumpServerLog()
		return
	}
	s.Server = s.g
	defer s.g.Kill()
	s.checkVersion(opts)
	if s.c != nil {
		s.checkAttach()
	}
	if s.root != nil {
		cfg.Run(s)
		s.checkClose()
	} else {
		s.Broken = "no client or no root"
	}

	s.CheckTreeUnchanged()
	if s.Failed() && session.LogFile == nil {
		s.DumpServerLog()
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
