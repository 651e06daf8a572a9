//go:build gvisor_today

package main

// Checks of today's lisafs additions (ConnectWithCreds, RenameAt2) and of
// the semantics today's gofer gives its client, each against the host.

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/lisafs"

	"gofer/tests/interop/harness"
)

// runToday runs after the configuration's own checks.
func (s *Suite) runToday() {
	s.Check("today: Mount advertises ConnectWithCreds and RenameAt2", func() error {
		if !s.g.Client.IsSupported(lisafs.ConnectWithCreds) || !s.g.Client.IsSupported(lisafs.RenameAt2) {
			return fmt.Errorf("ConnectWithCreds %v, RenameAt2 %v", s.g.Client.IsSupported(lisafs.ConnectWithCreds), s.g.Client.IsSupported(lisafs.RenameAt2))
		}
		return nil
	})
	s.Check("today: stats are statx's (kernel's mask with STATX_BTIME, birth time)", func() error {
		var st statx
		if err := s.root().StatTo(ctx, &st); err != nil {
			return harness.Wrap("StatTo", err)
		}
		var want unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, s.fx.Path(""), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &want); err != nil {
			return err
		}
		if st.Mask != want.Mask {
			return fmt.Errorf("mask %#x, host %#x", st.Mask, want.Mask)
		}
		if st.Btime.Sec != want.Btime.Sec || st.Btime.Nsec != want.Btime.Nsec {
			return fmt.Errorf("btime %d.%09d, host %d.%09d", st.Btime.Sec, st.Btime.Nsec, want.Btime.Sec, want.Btime.Nsec)
		}
		return nil
	})
	switch {
	case s.cfg.ReadOnly:
		s.Check("today: RenameAt2 on a read-only mount -> EROFS", func() error {
			var e harness.Errs
			for _, flags := range []uint32{linux.RENAME_NOREPLACE, linux.RENAME_EXCHANGE, 8} {
				e.Want(fmt.Sprintf("RenameAt2(%#x)", flags), s.root().RenameAt(ctx, "a.txt", s.g.Root.ControlFD, "b.txt", flags), unix.EROFS)
			}
			return e.Err()
		})
	case s.cfg.Name == "rw":
		s.checkRenameAt2()
		s.checkTodaySemantics()
	}
	if s.cfg.HostUDS == "open" {
		s.checkConnectWithCreds()
	}
}

func ino(path string) uint64 {
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil {
		return 0
	}
	return st.Ino
}

func (s *Suite) checkRenameAt2() {
	s.Check("today: RenameAt2 RENAME_NOREPLACE -> EEXIST over a name, a move otherwise", func() error {
		return s.withScratch(func(dir lisafs.ClientFD) error {
			a, _ := s.hostFile("n-a", []byte("A"), 0o644)
			b, _ := s.hostFile("n-b", []byte("B"), 0o644)
			var e harness.Errs
			e.Want("onto n-b", dir.RenameAt(ctx, "n-a", dir.ID(), "n-b", linux.RENAME_NOREPLACE), unix.EEXIST)
			if string(harness.ReadHostFile(a)) != "A" || string(harness.ReadHostFile(b)) != "B" {
				e.Add("files changed after EEXIST")
			}
			e.OK("onto n-c", dir.RenameAt(ctx, "n-a", dir.ID(), "n-c", linux.RENAME_NOREPLACE))
			if string(harness.ReadHostFile(s.fx.Path("scratch/n-c"))) != "A" || harness.HostExists(a) {
				e.Add("n-a was not moved to n-c")
			}
			e.OK("onto itself", dir.RenameAt(ctx, "n-c", dir.ID(), "n-c", linux.RENAME_NOREPLACE))
			return e.Err()
		})
	})
	s.Check("today: RenameAt2 RENAME_EXCHANGE swaps entries; FDs walked below follow (LinkAt)", func() error {
		return s.withScratch(func(dir lisafs.ClientFD) error {
			x, y := s.fx.Path("scratch/x-x"), s.fx.Path("scratch/x-y")
			for _, d := range []string{x, y} {
				if err := os.Mkdir(d, 0o755); err != nil {
					return err
				}
			}
			if err := os.WriteFile(x+"/f", []byte("in x"), 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(y+"/g", []byte("in y"), 0o644); err != nil {
				return err
			}
			f, _, err := s.walk("scratch/x-x/f")
			if err != nil {
				return err
			}
			g, _, err := s.walk("scratch/x-y/g")
			if err != nil {
				return err
			}
			defer s.closeFDs(f, g)
			ix, iy := ino(x), ino(y)
			var e harness.Errs
			if !e.OK("exchange", dir.RenameAt(ctx, "x-x", dir.ID(), "x-y", linux.RENAME_EXCHANGE)) {
				return e.Err()
			}
			if ino(x) != iy || ino(y) != ix {
				e.Add("host: x-x is %d, x-y is %d; want %d, %d", ino(x), ino(y), iy, ix)
			}
			for _, c := range []struct {
				fd   lisafs.ClientFD
				name string
				host string
			}{{f, "f-link", y + "/f"}, {g, "g-link", x + "/g"}} {
				in, err := dir.LinkAt(ctx, c.fd.ID(), c.name)
				if !e.OK("LinkAt "+c.name, err) {
					continue
				}
				s.closeInodes([]lisafs.Inode{in})
				if got, want := ino(s.fx.Path("scratch/"+c.name)), ino(c.host); got != want {
					e.Add("%s links inode %d, want %d (%s)", c.name, got, want, c.host)
				}
			}
			e.Want("exchange with a missing name", dir.RenameAt(ctx, "x-x", dir.ID(), "missing", linux.RENAME_EXCHANGE), unix.ENOENT)
			return e.Err()
		})
	})
	s.Check("today: RenameAt2 RENAME_WHITEOUT leaves a character device 0/0", func() error {
		return s.withScratch(func(dir lisafs.ClientFD) error {
			if _, err := s.hostFile("w-a", []byte("A"), 0o644); err != nil {
				return err
			}
			var e harness.Errs
			if !e.OK("whiteout", dir.RenameAt(ctx, "w-a", dir.ID(), "w-b", linux.RENAME_WHITEOUT)) {
				return e.Err()
			}
			var st unix.Stat_t
			if err := unix.Lstat(s.fx.Path("scratch/w-a"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
				e.Add("w-a: mode %#o rdev %d (%v), want a 0/0 character device", st.Mode, st.Rdev, err)
			}
			if string(harness.ReadHostFile(s.fx.Path("scratch/w-b"))) != "A" {
				e.Add("w-b does not hold w-a's content")
			}
			return e.Err()
		})
	})
	s.Check("today: RenameAt2 with flags the host refuses -> EINVAL, nothing changes", func() error {
		return s.withScratch(func(dir lisafs.ClientFD) error {
			a, _ := s.hostFile("b-a", []byte("A"), 0o644)
			b, _ := s.hostFile("b-b", []byte("B"), 0o644)
			var e harness.Errs
			for _, flags := range []uint32{linux.RENAME_NOREPLACE | linux.RENAME_EXCHANGE, linux.RENAME_WHITEOUT | linux.RENAME_EXCHANGE, 8, 0x80000000} {
				e.Want(fmt.Sprintf("flags %#x", flags), dir.RenameAt(ctx, "b-a", dir.ID(), "b-b", flags), unix.EINVAL)
			}
			if string(harness.ReadHostFile(a)) != "A" || string(harness.ReadHostFile(b)) != "B" {
				e.Add("host files changed")
			}
			e.Want("non-directory", s.fd(badFDID).RenameAt(ctx, "b-a", dir.ID(), "x", linux.RENAME_NOREPLACE), unix.EBADF)
			e.Want("bad name", dir.RenameAt(ctx, "..", dir.ID(), "x", linux.RENAME_NOREPLACE), unix.EINVAL)
			return e.Err()
		})
	})
}

func (s *Suite) checkTodaySemantics() {
	s.Check("today: OpenAt of a deleted file opens it (OpenOnDeleted)", func() error {
		if _, err := s.hostFile("t-del", []byte("still here"), 0o644); err != nil {
			return err
		}
		ctl, _, err := s.walk("scratch/t-del")
		if err != nil {
			return err
		}
		defer s.closeFDs(ctl)
		if err := s.withScratch(func(dir lisafs.ClientFD) error { return dir.UnlinkAt(ctx, "t-del", 0) }); err != nil {
			return harness.Wrap("UnlinkAt", err)
		}
		id, fd, err := ctl.OpenAt(ctx, unix.O_RDONLY)
		closeHostFD(fd)
		if err != nil {
			return harness.Wrap("OpenAt", err)
		}
		defer s.closeFDs(*s.fd(id))
		got, err := readAt(*s.fd(id), 0, 64)
		if err != nil || string(got) != "still here" {
			return fmt.Errorf("read %q, %s", got, harness.ErrName(err))
		}
		return nil
	})
	s.Check("today: MknodAt of a character device 0/0 makes a whiteout; other devices -> EPERM", func() error {
		uid, gid := s.ownerIDs()
		return s.withScratch(func(dir lisafs.ClientFD) error {
			var e harness.Errs
			in, err := dir.MknodAt(ctx, "t-wh", unix.S_IFCHR|0o600, uid, gid, 0, 0)
			if e.OK("MknodAt(0/0)", err) {
				s.closeInodes([]lisafs.Inode{in})
				if err := compareStat("whiteout stat", in.Stat, s.fx.Path("scratch/t-wh")); err != nil {
					e.Add("%v", err)
				}
			}
			_, err = dir.MknodAt(ctx, "t-null", unix.S_IFCHR|0o600, uid, gid, 3, 1)
			e.Want("MknodAt(1/3)", err, unix.EPERM)
			return e.Err()
		})
	})
	s.Check("today: SetStat of a symlink's mode -> EOPNOTSUPP in the failure mask", func() error {
		ctl, _, err := s.walk("link")
		if err != nil {
			return err
		}
		defer s.closeFDs(ctl)
		mask, ferr, err := ctl.SetStat(ctx, &linux.Statx{Mask: unix.STATX_MODE, Mode: 0o600})
		if err != nil || mask != unix.STATX_MODE || harness.WantErrno(ferr, unix.EOPNOTSUPP) != nil {
			return fmt.Errorf("mask %#x, failure %s, err %s", mask, harness.ErrName(ferr), harness.ErrName(err))
		}
		return nil
	})
}

// checkConnectWithCreds: Connect with credentials sends ConnectWithCreds;
// the host sees the peer with those ids and checks the socket's permissions
// against them.
func (s *Suite) checkConnectWithCreds() {
	s.Check("today: Connect with creds (ConnectWithCreds): peer ids and permission checks as those ids", func() error {
		if !s.fx.IsRoot {
			return fmt.Errorf("needs root")
		}
		p := s.fx.Path("scratch/c-sock")
		l, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			return err
		}
		defer unix.Close(l)
		if err := unix.Bind(l, &unix.SockaddrUnix{Name: p}); err != nil {
			return err
		}
		defer os.Remove(p)
		if err := unix.Listen(l, 8); err != nil {
			return err
		}
		ctl, _, err := s.walk("scratch/c-sock")
		if err != nil {
			return err
		}
		defer s.closeFDs(ctl)
		var e harness.Errs
		for _, mode := range []uint32{0o777, 0o700} {
			if err := os.Chmod(p, os.FileMode(mode)); err != nil {
				return err
			}
			fd, err := ctl.Connect(ctx, unix.SOCK_STREAM, 1234, 5678)
			if mode == 0o700 {
				closeHostFD(fd)
				e.Want("Connect(1234:5678) to a 0700 root socket", err, unix.EACCES)
				continue
			}
			if !e.OK("Connect(1234:5678)", err) {
				continue
			}
			a, _, aerr := unix.Accept4(l, unix.SOCK_CLOEXEC)
			if aerr != nil {
				e.Add("accept: %v", aerr)
				closeHostFD(fd)
				continue
			}
			cred, cerr := unix.GetsockoptUcred(a, unix.SOL_SOCKET, unix.SO_PEERCRED)
			if cerr != nil || cred.Uid != 1234 || cred.Gid != 5678 {
				e.Add("peer creds %+v (%v), want uid 1234 gid 5678", cred, cerr)
			}
			unix.Close(a)
			closeHostFD(fd)
		}
		// And plain Connect is the gofer's own ids again.
		fd, err := connectSock(&ctl, unix.SOCK_STREAM)
		if e.OK("Connect (no creds)", err) {
			if a, _, aerr := unix.Accept4(l, unix.SOCK_CLOEXEC); aerr == nil {
				if cred, _ := unix.GetsockoptUcred(a, unix.SOL_SOCKET, unix.SO_PEERCRED); cred == nil || cred.Uid != 0 {
					e.Add("plain Connect peer %+v, want uid 0", cred)
				}
				unix.Close(a)
			}
			closeHostFD(fd)
		}
		return e.Err()
	})
}
