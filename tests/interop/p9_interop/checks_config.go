package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/fd"
	"gvisor.dev/gvisor/pkg/p9"

	"gofer/tests/interop/harness"
)

// checkXattrRefused: the reference's fsgofer.go refuses every xattr
// message with EOPNOTSUPP (below version 10/11 the client itself does).
func (s *Suite) checkXattrRefused() {
	s.Check("xattr: GetXattr/SetXattr/ListXattr/RemoveXattr -> EOPNOTSUPP without --xattr-user, host unchanged", func() error {
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		var e harness.Errs
		before := harness.XattrDesc(s.fx.Path("a.txt"))
		_, err = f.GetXattr("user.greeting", 64)
		e.Want("GetXattr", err, unix.EOPNOTSUPP)
		e.Want("SetXattr", f.SetXattr("user.greeting", "changed", 0), unix.EOPNOTSUPP)
		e.Want("SetXattr(new)", f.SetXattr("user.new", "v", 0), unix.EOPNOTSUPP)
		_, err = f.ListXattr(4096)
		e.Want("ListXattr", err, unix.EOPNOTSUPP)
		e.Want("RemoveXattr", f.RemoveXattr("user.greeting"), unix.EOPNOTSUPP)
		if after := harness.XattrDesc(s.fx.Path("a.txt")); after != before {
			e.Add("host xattrs changed: %s -> %s", before, after)
		}
		return e.Err()
	})
}

// checkXattrUser: our --xattr-user extension serves user.* only.
func (s *Suite) checkXattrUser() {
	s.Check("xattr-user: SetXattr/GetXattr/ListXattr/RemoveXattr of user.* reach the host", func() error {
		if !s.fx.UserXattrs {
			return fmt.Errorf("host filesystem does not support user.* xattrs; cannot test")
		}
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		p := s.fx.Path("a.txt")
		buf := make([]byte, 64)
		var e harness.Errs
		if v, err := f.GetXattr("user.greeting", 64); err != nil || v != "hello" {
			e.Add("GetXattr(user.greeting) = %q, %s", v, harness.ErrName(err))
		}
		if e.OK("SetXattr(user.new)", f.SetXattr("user.new", "v1", 0)) {
			if n, err := unix.Lgetxattr(p, "user.new", buf); err != nil || string(buf[:n]) != "v1" {
				e.Add("host user.new = %q, %v", buf[:max(n, 0)], err)
			}
		}
		if v, err := f.GetXattr("user.new", 64); err != nil || v != "v1" {
			e.Add("GetXattr(user.new) = %q, %s", v, harness.ErrName(err))
		}
		_, err = f.GetXattr("user.greeting", 2)
		e.Want("GetXattr with a too small size", err, unix.ERANGE)
		_, err = f.GetXattr("user.absent", 64)
		e.Want("GetXattr(absent)", err, unix.ENODATA)
		e.Want("SetXattr(XATTR_CREATE, existing)", f.SetXattr("user.new", "v2", unix.XATTR_CREATE), unix.EEXIST)
		e.Want("SetXattr(XATTR_REPLACE, absent)", f.SetXattr("user.absent", "v", unix.XATTR_REPLACE), unix.ENODATA)
		if e.OK("SetXattr(XATTR_REPLACE, existing)", f.SetXattr("user.new", "v3", unix.XATTR_REPLACE)) {
			if n, err := unix.Lgetxattr(p, "user.new", buf); err != nil || string(buf[:n]) != "v3" {
				e.Add("host user.new = %q after replace, %v", buf[:max(n, 0)], err)
			}
		}
		names, err := f.ListXattr(4096)
		if e.OK("ListXattr", err) {
			var got []string
			for n := range names {
				got = append(got, n)
			}
			sort.Strings(got)
			if _, ok := names["user.greeting"]; !ok {
				e.Add("ListXattr = %v, missing user.greeting", got)
			}
			if _, ok := names["user.new"]; !ok {
				e.Add("ListXattr = %v, missing user.new", got)
			}
			for _, n := range got {
				if !strings.HasPrefix(n, "user.") {
					e.Add("ListXattr returned non-user name %q", n)
				}
			}
		}
		if e.OK("RemoveXattr(user.new)", f.RemoveXattr("user.new")) {
			if _, err := unix.Lgetxattr(p, "user.new", buf); err != unix.ENODATA {
				e.Add("host still has user.new (%v)", err)
			}
		}
		e.Want("RemoveXattr(missing)", f.RemoveXattr("user.new"), unix.ENODATA)
		// On a directory too.
		d, err := s.walk("d1")
		if err != nil {
			return err
		}
		defer d.Close()
		if e.OK("SetXattr(dir)", d.SetXattr("user.dir", "dv", 0)) {
			if n, err := unix.Lgetxattr(s.fx.Path("d1"), "user.dir", buf); err != nil || string(buf[:n]) != "dv" {
				e.Add("host d1 user.dir = %q, %v", buf[:max(n, 0)], err)
			}
			e.OK("RemoveXattr(dir)", d.RemoveXattr("user.dir"))
		}
		return e.Err()
	})
	s.Check("xattr-user: xattrs through a fid whose parent directory was renamed reach the new path", func() error {
		if err := os.MkdirAll(s.fx.Path("scratch/xd/sub"), 0o755); err != nil {
			return err
		}
		f, err := s.walk("scratch/xd/sub")
		if err != nil {
			return err
		}
		defer f.Close()
		var e harness.Errs
		err = s.withDir("scratch", func(dir p9.File) error {
			e.OK("RenameAt(xd -> xd2)", dir.RenameAt("xd", dir, "xd2"))
			return nil
		})
		if err != nil {
			return err
		}
		p := s.fx.Path("scratch/xd2/sub")
		buf := make([]byte, 64)
		if e.OK("SetXattr after rename", f.SetXattr("user.moved", "yes", 0)) {
			if n, err := unix.Lgetxattr(p, "user.moved", buf); err != nil || string(buf[:n]) != "yes" {
				e.Add("host %s user.moved = %q, %v", p, buf[:max(n, 0)], err)
			}
		}
		if v, err := f.GetXattr("user.moved", 64); err != nil || v != "yes" {
			e.Add("GetXattr after rename = %q, %s", v, harness.ErrName(err))
		}
		if names, err := f.ListXattr(4096); e.OK("ListXattr after rename", err) {
			if _, ok := names["user.moved"]; !ok {
				e.Add("ListXattr = %v", names)
			}
		}
		e.OK("RemoveXattr after rename", f.RemoveXattr("user.moved"))
		return e.Err()
	})
	s.Check("xattr-user: other namespaces (trusted, security, system) -> EOPNOTSUPP, host unchanged", func() error {
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		var e harness.Errs
		before := harness.XattrDesc(s.fx.Path("a.txt"))
		for _, name := range []string{"trusted.x", "security.x", "system.x", "nonamespace"} {
			e.Want("SetXattr "+name, f.SetXattr(name, "v", 0), unix.EOPNOTSUPP)
			e.Want("RemoveXattr "+name, f.RemoveXattr(name), unix.EOPNOTSUPP)
			_, err := f.GetXattr(name, 64)
			e.Want("GetXattr "+name, err, unix.EOPNOTSUPP)
		}
		if after := harness.XattrDesc(s.fx.Path("a.txt")); after != before {
			e.Add("host xattrs changed: %s -> %s", before, after)
		}
		return e.Err()
	})
}

// checkXattrReadOnly: --xattr-user on a read-only mount reads but refuses
// changes with EROFS.
func (s *Suite) checkXattrReadOnly() {
	s.Check("xattr-user, ro: GetXattr/ListXattr work; SetXattr/RemoveXattr -> EROFS", func() error {
		if !s.fx.UserXattrs {
			return fmt.Errorf("host filesystem does not support user.* xattrs; cannot test")
		}
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		var e harness.Errs
		if v, err := f.GetXattr("user.greeting", 64); err != nil || v != "hello" {
			e.Add("GetXattr = %q, %s", v, harness.ErrName(err))
		}
		if names, err := f.ListXattr(4096); e.OK("ListXattr", err) {
			if _, ok := names["user.greeting"]; !ok {
				e.Add("ListXattr = %v", names)
			}
		}
		e.Want("SetXattr", f.SetXattr("user.greeting", "changed", 0), unix.EROFS)
		e.Want("SetXattr(new)", f.SetXattr("user.new", "v", 0), unix.EROFS)
		e.Want("RemoveXattr", f.RemoveXattr("user.greeting"), unix.EROFS)
		return e.Err()
	})
}

// recvEcho writes msg to a connected non-blocking socket and reads the
// fixture server's "echo:" reply.
func recvEcho(sock *fd.FD, msg string) (string, error) {
	if _, err := unix.Write(sock.FD(), []byte(msg)); err != nil {
		return "", fmt.Errorf("write: %v", err)
	}
	pfd := []unix.PollFd{{Fd: int32(sock.FD()), Events: unix.POLLIN}}
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 256)
	for time.Now().Before(deadline) {
		unix.Poll(pfd, 1000)
		n, err := unix.Read(sock.FD(), buf)
		if err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read: %v", err)
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("no reply within 5s")
}

// checkConnect: --host-uds open lets the client walk to host sockets and
// connect to them (Tlconnect); the connected socket is donated.
func (s *Suite) checkConnect() {
	s.Check("uds: Walk to host sockets; GetAttr/QID say socket", func() error {
		var e harness.Errs
		for _, rel := range []string{"hostsock", "sockdir/s"} {
			f, err := s.walk(rel)
			if !e.OK("walk "+rel, err) {
				continue
			}
			qid, valid, attr, err := f.GetAttr(p9.AttrMaskAll())
			if e.OK("GetAttr", err) {
				if err := compareAttr(rel, valid, attr, s.fx.Path(rel)); err != nil {
					e.Add("%v", err)
				}
				if err := compareQID(rel, qid, s.fx.Path(rel)); err != nil {
					e.Add("%v", err)
				}
			}
			f.Close()
		}
		return e.Err()
	})
	s.Check("uds: Connect(StreamSocket) donates a connected O_NONBLOCK socket that talks to the host listener", func() error {
		f, err := s.walk("hostsock")
		if err != nil {
			return err
		}
		defer f.Close()
		sock, err := f.Connect(p9.StreamSocket)
		if err != nil {
			return harness.Wrap("Connect", err)
		}
		if sock == nil {
			return fmt.Errorf("no FD donated")
		}
		defer sock.Close()
		var e harness.Errs
		if err := harness.CheckNonblock("Connect", sock.FD()); err != nil {
			e.Add("%v", err)
		}
		if got, err := recvEcho(sock, "ping"); err != nil || got != "echo:ping" {
			e.Add("echo: %q, %v", got, err)
		}
		// A second connect on the same fid works too.
		sock2, err := f.Connect(p9.StreamSocket)
		if e.OK("second Connect", err) && sock2 != nil {
			if got, err := recvEcho(sock2, "pong"); err != nil || got != "echo:pong" {
				e.Add("echo 2: %q, %v", got, err)
			}
			sock2.Close()
		}
		return e.Err()
	})
	s.Check("uds: Connect with the wrong type -> EPROTOTYPE; AnonymousSocket -> ENXIO (fsgofer.go Connect); Open of a socket -> EINVAL", func() error {
		f, err := s.walk("hostsock")
		if err != nil {
			return err
		}
		defer f.Close()
		var e harness.Errs
		for _, t := range []p9.SocketType{p9.DgramSocket, p9.SeqpacketSocket} {
			sock, err := f.Connect(t)
			if sock != nil {
				sock.Close()
			}
			e.Want(fmt.Sprintf("Connect(%d)", t), err, unix.EPROTOTYPE)
		}
		sock, err := f.Connect(p9.AnonymousSocket)
		if sock != nil {
			sock.Close()
		}
		e.Want("Connect(AnonymousSocket)", err, unix.ENXIO)
		_, _, _, err = f.Open(p9.ReadOnly)
		e.Want("Open(socket)", err, unix.EINVAL)
		return e.Err()
	})
	s.Check("uds: Connect through a fid whose directory was renamed reaches the socket at its new path", func() error {
		f, err := s.walk("sockdir/s")
		if err != nil {
			return err
		}
		defer f.Close()
		var e harness.Errs
		if !e.OK("RenameAt(sockdir -> sockdir2)", s.root.RenameAt("sockdir", s.root, "sockdir2")) {
			return e.Err()
		}
		defer os.Rename(s.fx.Path("sockdir2"), s.fx.Path("sockdir"))
		sock, err := f.Connect(p9.StreamSocket)
		if e.OK("Connect after rename", err) && sock != nil {
			if got, err := recvEcho(sock, "moved"); err != nil || got != "echo:moved" {
				e.Add("echo: %q, %v", got, err)
			}
			sock.Close()
		}
		return e.Err()
	})
	s.Check("uds: FIFOs and devices stay refused (EPERM)", func() error {
		var e harness.Errs
		rels := []string{"fifo"}
		if s.fx.HasBlk {
			rels = append(rels, "blk")
		}
		for _, rel := range rels {
			f, err := s.walk(rel)
			if f != nil {
				f.Close()
			}
			e.Want("Walk "+rel, err, unix.EPERM)
		}
		return e.Err()
	})
}

// checkFifo: --host-fifo open lets the client walk to host FIFOs.
func (s *Suite) checkFifo() {
	s.Check("fifo: Walk to a host FIFO; GetAttr/QID say FIFO", func() error {
		f, err := s.walk("fifo")
		if err != nil {
			return err
		}
		defer f.Close()
		qid, valid, attr, err := f.GetAttr(p9.AttrMaskAll())
		if err != nil {
			return harness.Wrap("GetAttr", err)
		}
		var e harness.Errs
		if err := compareAttr("fifo", valid, attr, s.fx.Path("fifo")); err != nil {
			e.Add("%v", err)
		}
		if err := compareQID("fifo", qid, s.fx.Path("fifo")); err != nil {
			e.Add("%v", err)
		}
		return e.Err()
	})
	s.Check("fifo: sockets and devices stay refused (EPERM)", func() error {
		var e harness.Errs
		rels := []string{"hostsock"}
		if s.fx.HasBlk {
			rels = append(rels, "blk")
		}
		for _, rel := range rels {
			f, err := s.walk(rel)
			if f != nil {
				f.Close()
			}
			e.Want("Walk "+rel, err, unix.EPERM)
		}
		return e.Err()
	})
}
