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
		var e errs
		before := xattrDesc(s.fx.Path("a.txt"))
		_, err = f.GetXattr("user.greeting", 64)
		e.want("GetXattr", err, unix.EOPNOTSUPP)
		e.want("SetXattr", f.SetXattr("user.greeting", "changed", 0), unix.EOPNOTSUPP)
		e.want("SetXattr(new)", f.SetXattr("user.new", "v", 0), unix.EOPNOTSUPP)
		_, err = f.ListXattr(4096)
		e.want("ListXattr", err, unix.EOPNOTSUPP)
		e.want("RemoveXattr", f.RemoveXattr("user.greeting"), unix.EOPNOTSUPP)
		if after := xattrDesc(s.fx.Path("a.txt")); after != before {
			e.add("host xattrs changed: %s -> %s", before, after)
		}
		return e.err()
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
		var e errs
		if v, err := f.GetXattr("user.greeting", 64); err != nil || v != "hello" {
			e.add("GetXattr(user.greeting) = %q, %s", v, errName(err))
		}
		if e.ok("SetXattr(user.new)", f.SetXattr("user.new", "v1", 0)) {
			if n, err := unix.Lgetxattr(p, "user.new", buf); err != nil || string(buf[:n]) != "v1" {
				e.add("host user.new = %q, %v", buf[:max(n, 0)], err)
			}
		}
		if v, err := f.GetXattr("user.new", 64); err != nil || v != "v1" {
			e.add("GetXattr(user.new) = %q, %s", v, errName(err))
		}
		_, err = f.GetXattr("user.greeting", 2)
		e.want("GetXattr with a too small size", err, unix.ERANGE)
		_, err = f.GetXattr("user.absent", 64)
		e.want("GetXattr(absent)", err, unix.ENODATA)
		e.want("SetXattr(XATTR_CREATE, existing)", f.SetXattr("user.new", "v2", unix.XATTR_CREATE), unix.EEXIST)
		e.want("SetXattr(XATTR_REPLACE, absent)", f.SetXattr("user.absent", "v", unix.XATTR_REPLACE), unix.ENODATA)
		if e.ok("SetXattr(XATTR_REPLACE, existing)", f.SetXattr("user.new", "v3", unix.XATTR_REPLACE)) {
			if n, err := unix.Lgetxattr(p, "user.new", buf); err != nil || string(buf[:n]) != "v3" {
				e.add("host user.new = %q after replace, %v", buf[:max(n, 0)], err)
			}
		}
		names, err := f.ListXattr(4096)
		if e.ok("ListXattr", err) {
			var got []string
			for n := range names {
				got = append(got, n)
			}
			sort.Strings(got)
			if _, ok := names["user.greeting"]; !ok {
				e.add("ListXattr = %v, missing user.greeting", got)
			}
			if _, ok := names["user.new"]; !ok {
				e.add("ListXattr = %v, missing user.new", got)
			}
			for _, n := range got {
				if !strings.HasPrefix(n, "user.") {
					e.add("ListXattr returned non-user name %q", n)
				}
			}
		}
		if e.ok("RemoveXattr(user.new)", f.RemoveXattr("user.new")) {
			if _, err := unix.Lgetxattr(p, "user.new", buf); err != unix.ENODATA {
				e.add("host still has user.new (%v)", err)
			}
		}
		e.want("RemoveXattr(missing)", f.RemoveXattr("user.new"), unix.ENODATA)
		// On a directory too.
		d, err := s.walk("d1")
		if err != nil {
			return err
		}
		defer d.Close()
		if e.ok("SetXattr(dir)", d.SetXattr("user.dir", "dv", 0)) {
			if n, err := unix.Lgetxattr(s.fx.Path("d1"), "user.dir", buf); err != nil || string(buf[:n]) != "dv" {
				e.add("host d1 user.dir = %q, %v", buf[:max(n, 0)], err)
			}
			e.ok("RemoveXattr(dir)", d.RemoveXattr("user.dir"))
		}
		return e.err()
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
		var e errs
		err = s.withDir("scratch", func(dir p9.File) error {
			e.ok("RenameAt(xd -> xd2)", dir.RenameAt("xd", dir, "xd2"))
			return nil
		})
		if err != nil {
			return err
		}
		p := s.fx.Path("scratch/xd2/sub")
		buf := make([]byte, 64)
		if e.ok("SetXattr after rename", f.SetXattr("user.moved", "yes", 0)) {
			if n, err := unix.Lgetxattr(p, "user.moved", buf); err != nil || string(buf[:n]) != "yes" {
				e.add("host %s user.moved = %q, %v", p, buf[:max(n, 0)], err)
			}
		}
		if v, err := f.GetXattr("user.moved", 64); err != nil || v != "yes" {
			e.add("GetXattr after rename = %q, %s", v, errName(err))
		}
		if names, err := f.ListXattr(4096); e.ok("ListXattr after rename", err) {
			if _, ok := names["user.moved"]; !ok {
				e.add("ListXattr = %v", names)
			}
		}
		e.ok("RemoveXattr after rename", f.RemoveXattr("user.moved"))
		return e.err()
	})
	s.Check("xattr-user: other namespaces (trusted, security, system) -> EOPNOTSUPP, host unchanged", func() error {
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		var e errs
		before := xattrDesc(s.fx.Path("a.txt"))
		for _, name := range []string{"trusted.x", "security.x", "system.x", "nonamespace"} {
			e.want("SetXattr "+name, f.SetXattr(name, "v", 0), unix.EOPNOTSUPP)
			e.want("RemoveXattr "+name, f.RemoveXattr(name), unix.EOPNOTSUPP)
			_, err := f.GetXattr(name, 64)
			e.want("GetXattr "+name, err, unix.EOPNOTSUPP)
		}
		if after := xattrDesc(s.fx.Path("a.txt")); after != before {
			e.add("host xattrs changed: %s -> %s", before, after)
		}
		return e.err()
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
		var e errs
		if v, err := f.GetXattr("user.greeting", 64); err != nil || v != "hello" {
			e.add("GetXattr = %q, %s", v, errName(err))
		}
		if names, err := f.ListXattr(4096); e.ok("ListXattr", err) {
			if _, ok := names["user.greeting"]; !ok {
				e.add("ListXattr = %v", names)
			}
		}
		e.want("SetXattr", f.SetXattr("user.greeting", "changed", 0), unix.EROFS)
		e.want("SetXattr(new)", f.SetXattr("user.new", "v", 0), unix.EROFS)
		e.want("RemoveXattr", f.RemoveXattr("user.greeting"), unix.EROFS)
		return e.err()
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
		var e errs
		for _, rel := range []string{"hostsock", "sockdir/s"} {
			f, err := s.walk(rel)
			if !e.ok("walk "+rel, err) {
				continue
			}
			qid, valid, attr, err := f.GetAttr(p9.AttrMaskAll())
			if e.ok("GetAttr", err) {
				if err := compareAttr(rel, valid, attr, s.fx.Path(rel)); err != nil {
					e.add("%v", err)
				}
				if err := compareQID(rel, qid, s.fx.Path(rel)); err != nil {
					e.add("%v", err)
				}
			}
			f.Close()
		}
		return e.err()
	})
	s.Check("uds: Connect(StreamSocket) donates a connected O_NONBLOCK socket that talks to the host listener", func() error {
		f, err := s.walk("hostsock")
		if err != nil {
			return err
		}
		defer f.Close()
		sock, err := f.Connect(p9.StreamSocket)
		if err != nil {
			return wrap("Connect", err)
		}
		if sock == nil {
			return fmt.Errorf("no FD donated")
		}
		defer sock.Close()
		var e errs
		if err := checkNonblock("Connect", sock); err != nil {
			e.add("%v", err)
		}
		if got, err := recvEcho(sock, "ping"); err != nil || got != "echo:ping" {
			e.add("echo: %q, %v", got, err)
		}
		// A second connect on the same fid works too.
		sock2, err := f.Connect(p9.StreamSocket)
		if e.ok("second Connect", err) && sock2 != nil {
			if got, err := recvEcho(sock2, "pong"); err != nil || got != "echo:pong" {
				e.add("echo 2: %q, %v", got, err)
			}
			sock2.Close()
		}
		return e.err()
	})
	s.Check("uds: Connect with the wrong type -> EPROTOTYPE; AnonymousSocket -> ENXIO (fsgofer.go Connect); Open of a socket -> EINVAL", func() error {
		f, err := s.walk("hostsock")
		if err != nil {
			return err
		}
		defer f.Close()
		var e errs
		for _, t := range []p9.SocketType{p9.DgramSocket, p9.SeqpacketSocket} {
			sock, err := f.Connect(t)
			if sock != nil {
				sock.Close()
			}
			e.want(fmt.Sprintf("Connect(%d)", t), err, unix.EPROTOTYPE)
		}
		sock, err := f.Connect(p9.AnonymousSocket)
		if sock != nil {
			sock.Close()
		}
		e.want("Connect(AnonymousSocket)", err, unix.ENXIO)
		_, _, _, err = f.Open(p9.ReadOnly)
		e.want("Open(socket)", err, unix.EINVAL)
		return e.err()
	})
	s.Check("uds: Connect through a fid whose directory was renamed reaches the socket at its new path", func() error {
		f, err := s.walk("sockdir/s")
		if err != nil {
			return err
		}
		defer f.Close()
		var e errs
		if !e.ok("RenameAt(sockdir -> sockdir2)", s.root.RenameAt("sockdir", s.root, "sockdir2")) {
			return e.err()
		}
		defer os.Rename(s.fx.Path("sockdir2"), s.fx.Path("sockdir"))
		sock, err := f.Connect(p9.StreamSocket)
		if e.ok("Connect after rename", err) && sock != nil {
			if got, err := recvEcho(sock, "moved"); err != nil || got != "echo:moved" {
				e.add("echo: %q, %v", got, err)
			}
			sock.Close()
		}
		return e.err()
	})
	s.Check("uds: FIFOs and devices stay refused (EPERM)", func() error {
		var e errs
		rels := []string{"fifo"}
		if s.fx.HasBlk {
			rels = append(rels, "blk")
		}
		for _, rel := range rels {
			f, err := s.walk(rel)
			if f != nil {
				f.Close()
			}
			e.want("Walk "+rel, err, unix.EPERM)
		}
		return e.err()
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
			return wrap("GetAttr", err)
		}
		var e errs
		if err := compareAttr("fifo", valid, attr, s.fx.Path("fifo")); err != nil {
			e.add("%v", err)
		}
		if err := compareQID("fifo", qid, s.fx.Path("fifo")); err != nil {
			e.add("%v", err)
		}
		return e.err()
	})
	s.Check("fifo: sockets and devices stay refused (EPERM)", func() error {
		var e errs
		rels := []string{"hostsock"}
		if s.fx.HasBlk {
			rels = append(rels, "blk")
		}
		for _, rel := range rels {
			f, err := s.walk(rel)
			if f != nil {
				f.Close()
			}
			e.want("Walk "+rel, err, unix.EPERM)
		}
		return e.err()
	})
}
