package main

// The concurrency rows (issue 17): 1, 2, 4 and 8 client goroutines, each
// with its own 9P connection to one listening server: diod -l (its worker
// threads) against dist/gofer --listen (one event loop for all connections).

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"gvisor.dev/gvisor/pkg/p9"
	"gvisor.dev/gvisor/pkg/unet"

	"gofer/bench/internal/benchkit"
	"gofer/tests/interop/launcher"
)

// The concurrent operations (row names: benchkit.ConcurrentName).
const (
	concGetattr = "getattr"
	concRead    = "read 4 KiB"
)

// listenArgv is col's server listening on the Unix socket sock (what
// diodload is run against too).
func listenArgv(cfg config, col, sock string) []string {
	if col == diodCol {
		return append(pinArgv(cfg), cfg.diod, "-f", "-n", "-N", "-c", "/dev/null", "-L", "stderr", "-l", sock, "-e", "ctl", "-e", cfg.root)
	}
	return append(pinArgv(cfg), cfg.gofer, "--listen", "unix:"+sock, "--mount", cfg.root)
}

// listening is a server started by startListening.
type listening struct {
	*launcher.Process
	sock string
	dir  string
	log  *launcher.LogBuffer
}

func (l *listening) close() {
	l.Kill()
	os.RemoveAll(l.dir)
}

// startListening starts col's server on a Unix socket in a new temp dir and
// waits until it accepts connections.
func startListening(cfg config, col string) (*listening, error) {
	dir, err := os.MkdirTemp("", "gofer-p9listen-")
	if err != nil {
		return nil, err
	}
	l := &listening{sock: filepath.Join(dir, "s.sock"), dir: dir, log: &launcher.LogBuffer{}}
	if l.Process, err = launcher.StartProcess(listenArgv(cfg, col, l.sock), nil, l.log); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("unix", l.sock)
		if err == nil {
			c.Close()
			return l, nil
		}
		if l.Exited() || time.Now().After(deadline) {
			benchkit.PrintServerLog(l.log)
			l.close()
			return nil, fmt.Errorf("%s server not listening on %s", col, l.sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// concClient is one goroutine's connection and fids.
type concClient struct {
	client *p9.Client
	root   p9.File
	file   p9.File // walked, for Tgetattr
	open   p9.File // opened read-only, for Tread
	buf    []byte
}

func (c *concClient) close() {
	for _, f := range []p9.File{c.open, c.file, c.root} {
		if f != nil {
			f.Close()
		}
	}
	c.client.Close()
}

// connect makes one connection to l, at col's version, and its fids.
func connect(cfg config, col string, l *listening) (*concClient, error) {
	sock, err := unet.Connect(l.sock, false)
	if err != nil {
		return nil, err
	}
	c, err := p9.NewClient(sock, cfg.msize, versionFor(cfg, col))
	if err != nil {
		sock.Close()
		return nil, fmt.Errorf("p9.NewClient(%q): %w", versionFor(cfg, col), err)
	}
	cc := &concClient{client: c, buf: make([]byte, 4096)}
	if cc.root, err = attachAs(c, anameFor(cfg, col), p9.UID(os.Geteuid())); err != nil {
		c.Close()
		return nil, fmt.Errorf("Tattach %q: %w", anameFor(cfg, col), err)
	}
	if cc.file, err = walk1(cc.root, readFile); err == nil {
		cc.open, err = openClone(cc.file, p9.ReadOnly)
	}
	if err != nil {
		cc.close()
		return nil, err
	}
	return cc, nil
}

// runConcurrent measures the concurrency rows of col against a fresh
// listening server.
func runConcurrent(cfg config, col string, res benchkit.Results) (retErr error) {
	getattr, read := benchkit.ConcurrentSelected(concGetattr), benchkit.ConcurrentSelected(concRead)
	if !getattr && !read {
		return nil
	}
	l, err := startListening(cfg, col)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			benchkit.PrintServerLog(l.log)
		}
		l.close()
	}()
	if cfg.serverCPU >= 0 {
		if err := benchkit.CheckPinned(l.Process, cfg.serverCPU); err != nil {
			return err
		}
	}
	top := benchkit.Levels[len(benchkit.Levels)-1]
	clients := make([]*concClient, 0, top)
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	for g := 0; g < top; g++ {
		c, err := connect(cfg, col, l)
		if err != nil {
			return fmt.Errorf("connection %d: %w", g+1, err)
		}
		clients = append(clients, c)
	}
	benchkit.ServerPID = l.Pid()
	defer func() { benchkit.ServerPID = 0 }()
	want := benchkit.Pattern(1 << 20)[8192 : 8192+4096]
	for _, n := range benchkit.Levels {
		if getattr {
			if err := res.Concurrent(col, benchkit.ConcurrentName(concGetattr, n), n, cfg.concWarmup, cfg.concTime, func(g int) error {
				_, valid, attr, err := clients[g].file.GetAttr(p9.AttrMaskAll())
				if err == nil && (!valid.Size || attr.Size != 1<<20) {
					err = fmt.Errorf("Tgetattr: valid %v size %d, want size %d", valid, attr.Size, 1<<20)
				}
				return err
			}); err != nil {
				return err
			}
		}
		if read {
			if err := res.Concurrent(col, benchkit.ConcurrentName(concRead, n), n, cfg.concWarmup, cfg.concTime, func(g int) error {
				c := clients[g]
				got, err := c.open.ReadAt(c.buf, 8192)
				if err == nil && got != len(c.buf) {
					err = fmt.Errorf("Tread: %d bytes, want %d", got, len(c.buf))
				}
				return err
			}); err != nil {
				return err
			}
			if string(clients[0].buf) != string(want) {
				return fmt.Errorf("Tread: wrong bytes at offset 8192")
			}
		}
	}
	return nil
}
