package main

import (
	"gvisor.dev/gvisor/pkg/p9"

	"gofer/tests/interop/harness"
)

// Suite runs the checks of one configuration against one gofer.
type Suite struct {
	*harness.Runner
	cfg  *Config
	g    *Gofer
	c    *p9.Client
	root p9.File // the attached root; never opened, never closed by checks
	fx   *harness.Fixture
}

// version is the negotiated 9P2000.L.Google version.
func (s *Suite) version() uint32 { return s.c.Version() }
