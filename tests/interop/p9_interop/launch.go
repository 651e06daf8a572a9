package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"time"

	"gvisor.dev/gvisor/pkg/p9"
	"gvisor.dev/gvisor/pkg/unet"

	"gofer/tests/interop/launcher"
)

// msize is the message size the sentry negotiates (and the largest the
// reference accepts: p9's maximumLength).
const msize = 1 << 20

// Gofer is a running gofer whose I/O socket's other end is Sock (until a
// client takes it over).
type Gofer struct {
	Opts launcher.Options
	*launcher.Process
	Sock   *unet.Socket
	Client *p9.Client
}

// StartGofer launches our gofer (o.Server must be launcher.Ours) on one end
// of a socketpair; its I/O socket is fd 3.
func StartGofer(o launcher.Options) (*Gofer, error) {
	sock, child, err := launcher.Socketpair()
	if err != nil {
		return nil, err
	}
	defer child.Close()
	p, err := launcher.StartProcess(o.Args(""), []*os.File{child}, o.Log)
	if err != nil {
		sock.Close()
		return nil, err
	}
	return &Gofer{Opts: o, Process: p, Sock: sock}, nil
}

// Connect negotiates version with p9.NewClient on the gofer's socket. On
// success the client owns the socket.
func (g *Gofer) Connect(size uint32, version string) (*p9.Client, error) {
	c, err := launcher.Handshake(g.Sock, 20*time.Second, func() (*p9.Client, error) {
		return p9.NewClient(g.Sock, size, version)
	})
	if errors.Is(err, launcher.ErrTimedOut) {
		return nil, fmt.Errorf("timed out waiting for Rversion (server: %s)", g.ExitStatusAfter(200*time.Millisecond))
	}
	if err == nil {
		g.Client = c
	}
	return c, err
}

// Close closes the client (or the raw socket) and waits for a clean exit.
func (g *Gofer) Close(timeout time.Duration) error {
	if g.Client != nil {
		g.Client.Close()
		g.Client = nil
	} else if g.Sock != nil {
		g.Sock.Close()
	}
	g.Sock = nil
	return g.AwaitExit(timeout, "gofer")
}

// Kill kills the gofer.
func (g *Gofer) Kill() {
	if g.Client != nil {
		g.Client.Close()
		g.Client = nil
	}
	g.Process.Kill()
}

// clientChannels returns how many flipcall channels the client opened. The
// p9 client does not export it and silently falls back to the socket when
// Tchannel fails, so we read its private slice (Len only; no unsafe).
func clientChannels(c *p9.Client) int {
	v := reflect.ValueOf(c).Elem().FieldByName("channels")
	if !v.IsValid() {
		return -1
	}
	return v.Len()
}
