package launcher

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/unet"
)

// Process is a started server process, reaped in the background. The lisafs
// Gofer here, the 9P interop test's gofer and the 9P benchmark's servers are
// all one.
type Process struct {
	Cmd     *exec.Cmd
	waitErr error
	done    chan struct{}
}

// StartProcess starts argv with extra as fds 3, 4, ... and log (if not nil)
// as its stdout and stderr. The process is killed if we die.
func StartProcess(argv []string, extra []*os.File, log io.Writer) (*Process, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.ExtraFiles = extra
	if log != nil {
		cmd.Stdout, cmd.Stderr = log, log
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %v: %w", argv, err)
	}
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process ID.
func (p *Process) Pid() int {
	return p.Cmd.Process.Pid
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitExit waits up to timeout for the process to exit and reports whether
// it has.
func (p *Process) WaitExit(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// ExitStatus describes how the process exited ("running" if it has not).
func (p *Process) ExitStatus() string {
	if !p.Exited() {
		return "running"
	}
	if p.waitErr == nil {
		return "exited with status 0"
	}
	return p.waitErr.Error()
}

// ExitStatusAfter is ExitStatus once the process has exited or timeout has
// passed: for errors that the process may be about to explain by dying.
func (p *Process) ExitStatusAfter(timeout time.Duration) string {
	p.WaitExit(timeout)
	return p.ExitStatus()
}

// Kill kills the process (unless it has exited) and waits for it.
func (p *Process) Kill() {
	if !p.Exited() {
		p.Cmd.Process.Kill()
		<-p.done
	}
}

// CPUsAllowed returns the process's Cpus_allowed_list ("?" if unknown).
func (p *Process) CPUsAllowed() string {
	v, err := StatusField(p.Pid(), "Cpus_allowed_list")
	if err != nil {
		return "?"
	}
	return v
}

// AwaitExit waits up to timeout for the process to exit and returns an
// error unless it exited with status 0; if it is still running then, it is
// killed. who names the process in the error ("server", "gofer").
func (p *Process) AwaitExit(timeout time.Duration, who string) error {
	select {
	case <-p.done:
		if p.waitErr != nil {
			return fmt.Errorf("%s exited uncleanly: %v", who, p.waitErr)
		}
		return nil
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s did not exit within %v after the client closed", who, timeout)
	}
}

// Socketpair creates a Unix stream socketpair: our end as a *unet.Socket,
// the server's end as a file to pass to StartProcess (and to close once the
// server has started).
func Socketpair() (*unet.Socket, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	sock, err := unet.NewSocket(fds[0])
	if err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("unet.NewSocket: %w", err)
	}
	return sock, os.NewFile(uintptr(fds[1]), "gofer-io"), nil
}

// ErrTimedOut is returned by Handshake when the server does not answer.
var ErrTimedOut = errors.New("timed out")

// Handshake runs connect, a client's first exchange with a server over sock
// (Mount, Tversion, ...), and waits up to timeout for it. If the server
// takes longer, sock is shut down, which makes connect fail in the
// background, and ErrTimedOut is returned.
func Handshake[T any](sock *unet.Socket, timeout time.Duration, connect func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := connect()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(timeout):
		unix.Shutdown(sock.FD(), unix.SHUT_RDWR)
		var zero T
		return zero, ErrTimedOut
	}
}

// VmRSSKiB returns the VmRSS of one process, in KiB.
func VmRSSKiB(pid int) (int, error) {
	v, err := StatusField(pid, "VmRSS")
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v, " kB"))
	if err != nil {
		return 0, fmt.Errorf("parsing VmRSS %q: %w", v, err)
	}
	return n, nil
}
