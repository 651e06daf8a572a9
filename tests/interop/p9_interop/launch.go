package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/p9"
	"gvisor.dev/gvisor/pkg/unet"
)

// msize is the message size the sentry negotiates (and the largest the
// reference accepts: p9's maximumLength).
const msize = 1 << 20

// GoferOpts describes one gofer to launch.
type GoferOpts struct {
	Bin       string
	MountDir  string
	ReadOnly  bool
	HostUDS   string
	HostFifo  string
	XattrUser bool
	Protocol  string
	Debug     bool
	Log       io.Writer
}

// Args is the gofer's argv; its I/O socket is always fd 3.
func (o *GoferOpts) Args() []string {
	mount := o.MountDir
	if o.ReadOnly {
		mount += ":ro"
	}
	args := []string{o.Bin, "--io-fd", "3", "--mount", mount}
	if o.Protocol != "" {
		args = append(args, "--protocol", o.Protocol)
	}
	if o.HostUDS != "" {
		args = append(args, "--host-uds", o.HostUDS)
	}
	if o.HostFifo != "" {
		args = append(args, "--host-fifo", o.HostFifo)
	}
	if o.XattrUser {
		args = append(args, "--xattr-user")
	}
	if o.Debug {
		args = append(args, "--log-level", "debug")
	}
	return args
}

// CommandLine renders Args for reports.
func (o *GoferOpts) CommandLine() string { return strings.Join(o.Args(), " ") }

// Gofer is a running gofer whose I/O socket's other end is Sock (until a
// client takes it over).
type Gofer struct {
	Opts    GoferOpts
	Cmd     *exec.Cmd
	Sock    *unet.Socket
	Client  *p9.Client
	waitErr error
	done    chan struct{}
}

// StartGofer launches the gofer on one end of a socketpair.
func StartGofer(o GoferOpts) (*Gofer, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	child := os.NewFile(uintptr(fds[1]), "gofer-io")
	defer child.Close()
	sock, err := unet.NewSocket(fds[0])
	if err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("unet.NewSocket: %w", err)
	}
	argv := o.Args()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.ExtraFiles = []*os.File{child} // fd 3
	if o.Log != nil {
		cmd.Stdout, cmd.Stderr = o.Log, o.Log
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		sock.Close()
		return nil, fmt.Errorf("starting %v: %w", argv, err)
	}
	g := &Gofer{Opts: o, Cmd: cmd, Sock: sock, done: make(chan struct{})}
	go func() {
		g.waitErr = cmd.Wait()
		close(g.done)
	}()
	return g, nil
}

// Connect negotiates version with p9.NewClient on the gofer's socket. On
// success the client owns the socket.
func (g *Gofer) Connect(size uint32, version string) (*p9.Client, error) {
	type result struct {
		c   *p9.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := p9.NewClient(g.Sock, size, version)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err == nil {
			g.Client = r.c
		}
		return r.c, r.err
	case <-time.After(20 * time.Second):
		unix.Shutdown(g.Sock.FD(), unix.SHUT_RDWR)
		return nil, fmt.Errorf("timed out waiting for Rversion (server: %s)", g.exitStatus())
	}
}

func (g *Gofer) exitStatus() string {
	g.WaitExit(200 * time.Millisecond)
	return g.ExitStatus()
}

// Exited reports whether the gofer has exited.
func (g *Gofer) Exited() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// WaitExit waits up to timeout for the gofer to exit.
func (g *Gofer) WaitExit(timeout time.Duration) bool {
	select {
	case <-g.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// ExitStatus describes how the gofer exited ("running" if it has not).
func (g *Gofer) ExitStatus() string {
	if !g.Exited() {
		return "running"
	}
	if g.waitErr == nil {
		return "exited with status 0"
	}
	return g.waitErr.Error()
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
	select {
	case <-g.done:
		if g.waitErr != nil {
			return fmt.Errorf("gofer exited uncleanly: %v", g.waitErr)
		}
		return nil
	case <-time.After(timeout):
		g.Kill()
		return fmt.Errorf("gofer did not exit within %v after the client closed", timeout)
	}
}

// Kill kills the gofer.
func (g *Gofer) Kill() {
	if g.Client != nil {
		g.Client.Close()
		g.Client = nil
	}
	if g.Cmd != nil && g.Cmd.Process != nil && !g.Exited() {
		g.Cmd.Process.Kill()
		<-g.done
	}
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
