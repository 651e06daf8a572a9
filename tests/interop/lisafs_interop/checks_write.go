package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/lisafs"

	"gofer/tests/interop/harness"
)

// withScratch runs fn with a control FD on the scratch directory.
func (s *Suite) withScratch(fn func(dir lisafs.ClientFD) error) error {
	dir, _, err := s.walk("scratch")
	if err != nil {
		return err
	}
	defer s.closeFDs(dir)
	return fn(dir)
}

// hostFile creates a scratch file on the host and returns its path.
func (s *Suite) hostFile(name string, content []byte, mode os.FileMode) (string, error) {
	p := s.fx.Path("scratch", name)
	if err := os.WriteFile(p, content, mode); err != nil {
		return "", err
	}
	return p, os.Chmod(p, mode)
}

func checkTimes(path string, atime, mtime linux.StatxTimestamp) error {
	st, err := hostStat(path)
	if err != nil {
		return err
	}
	if st.Atime.Sec != atime.Sec || st.Atime.Nsec != atime.Nsec || st.Mtime.Sec != mtime.Sec || st.Mtime.Nsec != mtime.Nsec {
		return fmt.Errorf("%s: host atime %d.%09d mtime %d.%09d, want %d.%09d %d.%09d", path,
			st.Atime.Sec, st.Atime.Nsec, st.Mtime.Sec, st.Mtime.Nsec, atime.Sec, atime.Nsec, mtime.Sec, mtime.Nsec)
	}
	return nil
}

var (
	testAtime = linux.StatxTimestamp{Sec: 1_000_000_000, Nsec: 123_456_789}
	testMtime = linux.StatxTimestamp{Sec: 1_100_000_000, Nsec: 987_654_321}
)

// setStat calls SetStat and folds "success with a failure mask" into an error.
func setStat(fd lisafs.ClientFD, st *linux.Statx) error {
	mask, ferr, err := fd.SetStat(ctx, st)
	if err != nil {
		return harness.Wrap("SetStat", err)
	}
	if mask != 0 {
		return fmt.Errorf("SetStat failure mask %#x errno %v", mask, ferr)
	}
	return nil
}

// checkSetStat covers SetStat.
func (s *Suite) checkSetStat() {
	s.Check("SetStat: mode, size, atime/mtime, uid/gid each reach the host", func() error {
		p, err := s.hostFile("ss.txt", make([]byte, 100), 0o644)
		if err != nil {
			return err
		}
		ctl, _, err := s.walk("scratch/ss.txt")
		if err != nil {
			return err
		}
		defer s.closeFDs(ctl)
		var e harness.Errs
		if err := setStat(ctl, &linux.Statx{Mask: unix.STATX_MODE, Mode: unix.S_IFREG | 0o600}); err != nil {
			e.Add("mode: %v", err)
		} else if err := harness.CheckMode(p, unix.S_IFREG|0o600); err != nil {
			e.Add("%v", err)
		}
		if err := setStat(ctl, &linux.Statx{Mask: unix.STATX_SIZE, Size: 10}); err != nil {
			e.Add("size: %v", err)
		} else if st, _ := hostStat(p); st.Size != 10 {
			e.Add("host size %d after SetStat size 10", st.Size)
		}
		if err := setStat(ctl, &linux.Statx{Mask: unix.STATX_ATIME | unix.STATX_MTIME, Atime: testAtime, Mtime: testMtime}); err != nil {
			e.Add("times: %v", err)
		} else if err := checkTimes(p, testAtime, testMtime); err != nil {
			e.Add("%v", err)
		}
		uid, gid := s.ownerIDs()
		if err := setStat(ctl, &linux.Statx{Mask: unix.STATX_UID | unix.STATX_GID, UID: uint32(uid), GID: uint32(gid)}); err != nil {
			e.Add("uid/gid: %v", err)
		} else if err := harness.CheckOwner(p, uid, gid); err != nil {
			e.Add("%v", err)
		}
		var st statx
		if err := ctl.StatTo(ctx, &st); err != nil {
			e.Add("StatTo: %s", harness.ErrName(err))
		} else if err := compareStat("after SetStat", st, p); err != nil {
			e.Add("%v", err)
		}
		return e.Err()
	})
	s.Check("SetStat: only mtime leaves atime alone (UTIME_OMIT), uid only leaves gid", func() error {
		p, err := s.hostFile("ss2.txt", []byte("x"), 0o644)
		if err != nil {
			return err
		}
		ctl, _, err := s.walk("scratch/ss2.txt")
		if err != nil {
			return err
		}
		defer s.closeFDs(ctl)
		if err := setStat(ctl, &linux.Statx{Mask: unix.STATX_ATIME | unix.STATX_MTIME, Atime: testAtime, Mtime: testAtime}); err != nil {
			return err
		}
		if err := setStat(ctl, &linux.Statx{Mask: unix.STATX_MTIME, Atime: testMtime, Mtime: testMtime}); err != nil {
			return err
		}
		if err := checkTimes(p, testAtime, testMtime); err != nil {
			return err
		}
		before, _ := hostStat(p)
		uid, _ := s.ownerIDs()
		if err := setStat(ctl, &linux.Statx{Mask: unix.STATX_UID, UID: uint32(uid), GID: 4242}); err != nil {
			return err
		}
		return harness.CheckOwner(p, uid, lisafs.GID(before.Gid))
	})
	s.Check("SetStat: mask bits outside mode|uid|gid|size|atime|mtime -> EPERM", func() error {
		ctl, _, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer s.closeFDs(ctl)
		_, _, err = ctl.SetStat(ctx, &linux.Statx{Mask: unix.STATX_MODE | unix.STATX_CTIME, Mode: 0o644})
		return harness.WantErrno(err, unix.EPERM)
	})
	s.Check("SetStat: failure mask: size on a directory fails (EISDIR) while mode applies", func() error {
		if err := os.Mkdir(s.fx.Path("scratch/ssdir"), 0o755); err != nil {
			return err
		}
		ctl, _, err := s.walk("scratch/ssdir")
		if err != nil {
			return err
		}
		defer s.closeFDs(ctl)
		mask, ferr, err := ctl.SetStat(ctx, &linux.Statx{Mask: unix.STATX_MODE | unix.STATX_SIZE, Mode: 0o700, Size: 0})
		if err != nil {
			return harness.Wrap("SetStat", err)
		}
		if mask != unix.STATX_SIZE || harness.WantErrno(ferr, unix.EISDIR) != nil {
			return fmt.Errorf("failure mask %#x errno %v, want %#x EISDIR", mask, ferr, unix.STATX_SIZE)
		}
		return harness.CheckMode(s.fx.Path("scratch/ssdir"), unix.S_IFDIR|0o700)
	})
	s.Check("SetStat: symlink times via its parent; symlink mode fails in the mask", func() error {
		p := s.fx.Path("scratch/sslink")
		if err := os.Symlink("a.txt", p); err != nil {
			return err
		}
		ctl, _, err := s.walk("scratch/sslink")
		if err != nil {
			return err
		}
		defer s.closeFDs(ctl)
		if err := setStat(ctl, &linux.Statx{Mask: unix.STATX_ATIME | unix.STATX_MTIME, Atime: testAtime, Mtime: testMtime}); err != nil {
			return err
		}
		if err := checkTimes(p, testAtime, testMtime); err != nil {
			return err
		}
		mask, ferr, err := ctl.SetStat(ctx, &linux.Statx{Mask: unix.STATX_MODE, Mode: 0o600})
		if err != nil {
			return harness.Wrap("SetStat(mode)", err)
		}
		if mask != unix.STATX_MODE || ferr == nil {
			return fmt.Errorf("symlink chmod: failure mask %#x errno %v, want %#x with an errno", mask, ferr, unix.STATX_MODE)
		}
		s.Info("SetStat mode on a symlink fails with %s", harness.ErrName(ferr))
		return nil
	})
	s.Check("SetStat: on an open FD ID -> EINVAL", func() error {
		o, err := s.open("a.txt", unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer o.close()
		_, _, err = o.ofd.SetStat(ctx, &linux.Statx{Mask: unix.STATX_MODE, Mode: 0o644})
		return harness.WantErrno(err, unix.EINVAL)
	})
}

// checkCreate covers OpenCreateAt, MkdirAt, MknodAt, SymlinkAt, LinkAt.
func (s *Suite) checkCreate() {
	uid, gid := s.ownerIDs()
	s.Check("OpenCreateAt: new file has exact mode (no umask), uid/gid, stat, writable donated FD", func() error {
		return s.withScratch(func(dir lisafs.ClientFD) error {
			ino, ofdID, hostFD, err := dir.OpenCreateAt(ctx, "created.txt", unix.O_RDWR, 0o777, uid, gid)
			if err != nil {
				return harness.Wrap("OpenCreateAt", err)
			}
			defer closeHostFD(hostFD)
			defer s.closeFDs(*s.fd(ofdID), *s.fd(ino.ControlFD))
			p := s.fx.Path("scratch/created.txt")
			var e harness.Errs
			if err := harness.CheckMode(p, unix.S_IFREG|0o777); err != nil {
				e.Add("%v", err)
			}
			if err := harness.CheckOwner(p, uid, gid); err != nil {
				e.Add("%v", err)
			}
			if err := compareStat("returned stat", ino.Stat, p); err != nil {
				e.Add("%v", err)
			}
			if hostFD < 0 {
				e.Add("no host FD donated")
			} else if err := harness.CheckNonblock("OpenCreateAt", hostFD); err != nil {
				e.Add("%v", err)
			} else if _, err := unix.Pwrite(hostFD, []byte("via donated fd"), 0); err != nil {
				e.Add("pwrite(donated FD): %v", err)
			} else if got := string(harness.ReadHostFile(p)); got != "via donated fd" {
				e.Add("host content %q after writing the donated FD", got)
			}
			if _, err := s.fd(ofdID).Write(ctx, []byte("VIA"), 0); err != nil {
				e.Add("PWrite on the new FD: %s", harness.ErrName(err))
			} else if got := string(harness.ReadHostFile(p)); got != "VIA donated fd" {
				e.Add("host content %q after PWrite", got)
			}
			return e.Err()
		})
	})
	s.Check("OpenCreateAt: existing name -> EEXIST; non-directory -> ENOTDIR", func() error {
		var e harness.Errs
		err := s.withScratch(func(dir lisafs.ClientFD) error {
			_, _, fd, err := dir.OpenCreateAt(ctx, "created.txt", unix.O_RDWR, 0o644, uid, gid)
			closeHostFD(fd)
			if harness.WantErrno(err, unix.EEXIST) != nil {
				e.Add("existing: %v", harness.WantErrno(err, unix.EEXIST))
			}
			return nil
		})
		if err != nil {
			return err
		}
		ctl, _, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer s.closeFDs(ctl)
		_, _, fd, err := ctl.OpenCreateAt(ctx, "x", unix.O_RDWR, 0o644, uid, gid)
		closeHostFD(fd)
		if harness.WantErrno(err, unix.ENOTDIR) != nil {
			e.Add("on a file: %v", harness.WantErrno(err, unix.ENOTDIR))
		}
		return e.Err()
	})
	s.Check("MkdirAt: exact mode, uid/gid, stat; the new FD can be used", func() error {
		return s.withScratch(func(dir lisafs.ClientFD) error {
			ino, err := dir.MkdirAt(ctx, "newdir", 0o777, uid, gid)
			if err != nil {
				return harness.Wrap("MkdirAt", err)
			}
			nd := s.fd(ino.ControlFD)
			defer s.closeFDs(*nd)
			p := s.fx.Path("scratch/newdir")
			var e harness.Errs
			if err := harness.CheckMode(p, unix.S_IFDIR|0o777); err != nil {
				e.Add("%v", err)
			}
			if err := harness.CheckOwner(p, uid, gid); err != nil {
				e.Add("%v", err)
			}
			if err := compareStat("returned stat", ino.Stat, p); err != nil {
				e.Add("%v", err)
			}
			sub, err := nd.MkdirAt(ctx, "sub", 0o750, uid, gid)
			if err != nil {
				e.Add("MkdirAt in the new dir: %s", harness.ErrName(err))
			} else {
				s.closeInodes([]lisafs.Inode{sub})
				if err := harness.CheckMode(p+"/sub", unix.S_IFDIR|0o750); err != nil {
					e.Add("%v", err)
				}
			}
			if _, err := dir.MkdirAt(ctx, "newdir", 0o755, uid, gid); harness.WantErrno(err, unix.EEXIST) != nil {
				e.Add("again: %v", harness.WantErrno(err, unix.EEXIST))
			}
			return e.Err()
		})
	})
	s.Check("MkdirAt: in a non-directory -> ENOTDIR", func() error {
		ctl, _, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer s.closeFDs(ctl)
		_, err = ctl.MkdirAt(ctx, "x", 0o755, uid, gid)
		return harness.WantErrno(err, unix.ENOTDIR)
	})
	s.Check("MknodAt: regular file with exact mode and uid/gid", func() error {
		return s.withScratch(func(dir lisafs.ClientFD) error {
			ino, err := dir.MknodAt(ctx, "node", unix.S_IFREG|0o640, uid, gid, 0, 0)
			if err != nil {
				return harness.Wrap("MknodAt", err)
			}
			defer s.closeInodes([]lisafs.Inode{ino})
			p := s.fx.Path("scratch/node")
			var e harness.Errs
			if err := harness.CheckMode(p, unix.S_IFREG|0o640); err != nil {
				e.Add("%v", err)
			}
			if err := harness.CheckOwner(p, uid, gid); err != nil {
				e.Add("%v", err)
			}
			if err := compareStat("returned stat", ino.Stat, p); err != nil {
				e.Add("%v", err)
			}
			return e.Err()
		})
	})
	s.Check("MknodAt: char device, FIFO, socket or typeless mode -> EPERM, nothing created", func() error {
		return s.withScratch(func(dir lisafs.ClientFD) error {
			var e harness.Errs
			for _, m := range []struct {
				name string
				mode linux.FileMode
			}{{"chr", unix.S_IFCHR | 0o600}, {"fifo", unix.S_IFIFO | 0o600}, {"sock", unix.S_IFSOCK | 0o600}, {"typeless", 0o600}} {
				ino, err := dir.MknodAt(ctx, "mk"+m.name, m.mode, uid, gid, 3, 1)
				if err == nil {
					s.closeInodes([]lisafs.Inode{ino})
				}
				if harness.WantErrno(err, unix.EPERM) != nil {
					e.Add("%s: %v", m.name, harness.WantErrno(err, unix.EPERM))
				}
				if err := harness.HostAbsent(s.fx.Path("scratch/mk" + m.name)); err != nil {
					e.Add("%v", err)
				}
			}
			return e.Err()
		})
	})
	s.Check("SymlinkAt: target, uid/gid, stat; ReadLinkAt on the new FD", func() error {
		return s.withScratch(func(dir lisafs.ClientFD) error {
			ino, err := dir.SymlinkAt(ctx, "sym", "../a.txt", uid, gid)
			if err != nil {
				return harness.Wrap("SymlinkAt", err)
			}
			fd := s.fd(ino.ControlFD)
			defer s.closeFDs(*fd)
			p := s.fx.Path("scratch/sym")
			var e harness.Errs
			if t, err := os.Readlink(p); err != nil || t != "../a.txt" {
				e.Add("host readlink = %q, %v", t, err)
			}
			if err := harness.CheckOwner(p, uid, gid); err != nil {
				e.Add("%v", err)
			}
			if err := compareStat("returned stat", ino.Stat, p); err != nil {
				e.Add("%v", err)
			}
			if t, err := fd.ReadLinkAt(ctx); err != nil || t != "../a.txt" {
				e.Add("ReadLinkAt = %q, %s", t, harness.ErrName(err))
			}
			if _, err := dir.SymlinkAt(ctx, "sym", "x", uid, gid); harness.WantErrno(err, unix.EEXIST) != nil {
				e.Add("again: %v", harness.WantErrno(err, unix.EEXIST))
			}
			return e.Err()
		})
	})
	s.Check("LinkAt: hard link shares the inode; directories -> EPERM", func() error {
		if _, err := s.hostFile("lsrc.txt", []byte("linked"), 0o644); err != nil {
			return err
		}
		return s.withScratch(func(dir lisafs.ClientFD) error {
			target, _, err := s.walk("scratch/lsrc.txt")
			if err != nil {
				return err
			}
			defer s.closeFDs(target)
			ino, err := dir.LinkAt(ctx, target.ID(), "hard")
			if err != nil {
				return harness.Wrap("LinkAt", err)
			}
			defer s.closeInodes([]lisafs.Inode{ino})
			var e harness.Errs
			src, _ := hostStat(s.fx.Path("scratch/lsrc.txt"))
			dst, err := hostStat(s.fx.Path("scratch/hard"))
			if err != nil || dst.Ino != src.Ino || dst.Nlink != 2 {
				e.Add("host: link ino %d nlink %d (err %v), source ino %d", dst.Ino, dst.Nlink, err, src.Ino)
			}
			if err := compareStat("returned stat", ino.Stat, s.fx.Path("scratch/hard")); err != nil {
				e.Add("%v", err)
			}
			if _, err := dir.LinkAt(ctx, target.ID(), "hard"); harness.WantErrno(err, unix.EEXIST) != nil {
				e.Add("again: %v", harness.WantErrno(err, unix.EEXIST))
			}
			d1, _, err := s.walk("d1")
			if err != nil {
				return err
			}
			defer s.closeFDs(d1)
			if _, err := dir.LinkAt(ctx, d1.ID(), "dirlink"); harness.WantErrno(err, unix.EPERM) != nil {
				e.Add("directory: %v", harness.WantErrno(err, unix.EPERM))
			}
			return e.Err()
		})
	})
}

// checkWrite covers OpenAt for writing, PWrite, Allocate, Sync.
func (s *Suite) checkWrite() {
	s.Check("OpenAt: O_WRONLY donated FD writes reach the host; O_RDWR|O_TRUNC truncates", func() error {
		p, err := s.hostFile("w1.txt", []byte("0123456789"), 0o644)
		if err != nil {
			return err
		}
		o, err := s.open("scratch/w1.txt", unix.O_WRONLY)
		if err != nil {
			return err
		}
		defer o.close()
		if o.hostFD < 0 {
			return fmt.Errorf("no host FD donated for O_WRONLY")
		}
		if fl, _ := fdFlags(o.hostFD); fl&unix.O_ACCMODE != unix.O_WRONLY {
			return fmt.Errorf("donated FD flags %#x, want O_WRONLY", fl)
		}
		if err := harness.CheckNonblock("O_WRONLY file", o.hostFD); err != nil {
			return err
		}
		if _, err := unix.Pwrite(o.hostFD, []byte("AB"), 3); err != nil {
			return err
		}
		if got := string(harness.ReadHostFile(p)); got != "012AB56789" {
			return fmt.Errorf("host content %q", got)
		}
		t, err := s.open("scratch/w1.txt", unix.O_RDWR|unix.O_TRUNC)
		if err != nil {
			return err
		}
		defer t.close()
		if st, _ := hostStat(p); st.Size != 0 {
			return fmt.Errorf("host size %d after O_TRUNC", st.Size)
		}
		return nil
	})
	s.Check("OpenAt: directory for writing or O_TRUNC -> EISDIR", func() error {
		ctl, _, err := s.walk("d1")
		if err != nil {
			return err
		}
		defer s.closeFDs(ctl)
		var e harness.Errs
		for _, fl := range []uint32{unix.O_WRONLY, unix.O_RDWR, unix.O_RDONLY | unix.O_TRUNC} {
			_, fd, err := ctl.OpenAt(ctx, fl)
			closeHostFD(fd)
			if harness.WantErrno(err, unix.EISDIR) != nil {
				e.Add("flags %#x: %v", fl, harness.WantErrno(err, unix.EISDIR))
			}
		}
		return e.Err()
	})
	s.Check("PWrite: small write at an offset, 3 MiB write spanning messages, write past EOF", func() error {
		p, err := s.hostFile("w2.txt", []byte("hello world"), 0o644)
		if err != nil {
			return err
		}
		o, err := s.open("scratch/w2.txt", unix.O_RDWR)
		if err != nil {
			return err
		}
		defer o.close()
		n, err := o.ofd.Write(ctx, []byte("WORLD, gofer!"), 6)
		if err != nil || n != 13 {
			return fmt.Errorf("Write: n=%d err=%v", n, err)
		}
		if got := string(harness.ReadHostFile(p)); got != "hello WORLD, gofer!" {
			return fmt.Errorf("host content %q", got)
		}
		big := harness.Pattern(3<<20+7, 7)
		if n, err := o.ofd.Write(ctx, big, 0); err != nil || n != uint64(len(big)) {
			return fmt.Errorf("3 MiB Write: n=%d err=%v", n, err)
		}
		if err := harness.CompareBytes("host after 3 MiB write", harness.ReadHostFile(p), big); err != nil {
			return err
		}
		if _, err := o.ofd.Write(ctx, []byte("end"), 4<<20); err != nil {
			return harness.Wrap("Write past EOF", err)
		}
		st, _ := hostStat(p)
		if st.Size != 4<<20+3 {
			return fmt.Errorf("host size %d after writing at 4 MiB", st.Size)
		}
		got, err := readAt(o.ofd, 4<<20-2, 10)
		if err != nil {
			return harness.Wrap("PRead", err)
		}
		return harness.CompareBytes("hole + tail", got, []byte("\x00\x00end"))
	})
	s.Check("PWrite on a read-only open FD -> EBADF; PRead on a write-only FD -> EBADF; on a control FD -> EINVAL", func() error {
		r, err := s.open("a.txt", unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer r.close()
		var e harness.Errs
		if _, err := r.ofd.Write(ctx, []byte("x"), 0); harness.WantErrno(err, unix.EBADF) != nil {
			e.Add("PWrite(O_RDONLY): %v", harness.WantErrno(err, unix.EBADF))
		}
		if _, err := r.ctl.Write(ctx, []byte("x"), 0); harness.WantErrno(err, unix.EINVAL) != nil {
			e.Add("PWrite(control FD): %v", harness.WantErrno(err, unix.EINVAL))
		}
		if _, err := s.hostFile("wo.txt", []byte("data"), 0o644); err != nil {
			return err
		}
		w, err := s.open("scratch/wo.txt", unix.O_WRONLY)
		if err != nil {
			return err
		}
		defer w.close()
		if _, err := w.ofd.Read(ctx, make([]byte, 4), 0); harness.WantErrno(err, unix.EBADF) != nil {
			e.Add("PRead(O_WRONLY): %v", harness.WantErrno(err, unix.EBADF))
		}
		if string(harness.ReadHostFile(s.fx.Path("a.txt"))) != string(s.fx.AContent()) {
			e.Add("a.txt changed")
		}
		return e.Err()
	})
	s.Check("Allocate: mode 0 extends the host file; read-only FD -> EBADF", func() error {
		p, err := s.hostFile("alloc.txt", nil, 0o644)
		if err != nil {
			return err
		}
		o, err := s.open("scratch/alloc.txt", unix.O_RDWR)
		if err != nil {
			return err
		}
		defer o.close()
		if err := o.ofd.Allocate(ctx, 0, 0, 65536); err != nil {
			return harness.Wrap("Allocate", err)
		}
		st, _ := hostStat(p)
		if st.Size != 65536 || st.Blocks*512 < 65536 {
			return fmt.Errorf("host size %d blocks %d after Allocate(0, 64 KiB)", st.Size, st.Blocks)
		}
		r, err := s.open("scratch/alloc.txt", unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer r.close()
		return harness.WantErrno(r.ofd.Allocate(ctx, 0, 0, 1<<20), unix.EBADF)
	})
	s.Check("Sync: writable open FDs (one and batched); Flush", func() error {
		if _, err := s.hostFile("sync.txt", nil, 0o644); err != nil {
			return err
		}
		o, err := s.open("scratch/sync.txt", unix.O_RDWR)
		if err != nil {
			return err
		}
		defer o.close()
		if _, err := o.ofd.Write(ctx, []byte("sync me"), 0); err != nil {
			return harness.Wrap("Write", err)
		}
		if err := o.ofd.Sync(ctx); err != nil {
			return harness.Wrap("Sync", err)
		}
		r, err := s.open("a.txt", unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer r.close()
		if err := s.g.Client.SyncFDs(ctx, []lisafs.FDID{o.ofd.ID(), r.ofd.ID()}); err != nil {
			return harness.Wrap("SyncFDs", err)
		}
		return harness.Wrap("Flush", o.ofd.Flush(ctx))
	})
}

// checkAllocateMode: the reference's seccomp filter only allows fallocate(2)
// with mode 0, so any other mode kills it with SIGSYS. Ours must survive it
// (success or an errno). Run last: it kills the reference.
func (s *Suite) checkAllocateMode() {
	if s.isRef() {
		s.Info("skipping Allocate with a non-zero mode: it kills the reference (seccomp SIGSYS)")
		return
	}
	s.Check("Allocate: non-zero mode (FALLOC_FL_KEEP_SIZE) works or fails cleanly", func() error {
		p, err := s.hostFile("alloc2.txt", make([]byte, 4096), 0o644)
		if err != nil {
			return err
		}
		o, err := s.open("scratch/alloc2.txt", unix.O_RDWR)
		if err != nil {
			return err
		}
		defer o.close()
		before, _ := hostStat(p)
		err = o.ofd.Allocate(ctx, unix.FALLOC_FL_KEEP_SIZE, 4096, 65536)
		after, _ := hostStat(p)
		if err == nil && (after.Size != 4096 || after.Blocks <= before.Blocks) {
			return fmt.Errorf("after KEEP_SIZE: size %d blocks %d (before %d)", after.Size, after.Blocks, before.Blocks)
		}
		if err != nil {
			s.Info("Allocate(KEEP_SIZE) -> %s", harness.ErrName(err))
		}
		var root statx
		return harness.Wrap("StatTo(root) afterwards", s.root().StatTo(ctx, &root))
	})
}

// checkUnlinkRename covers UnlinkAt and RenameAt.
func (s *Suite) checkUnlinkRename() {
	s.Check("UnlinkAt: file; directory with AT_REMOVEDIR; error cases", func() error {
		if _, err := s.hostFile("u.txt", nil, 0o644); err != nil {
			return err
		}
		for _, d := range []string{"udir", "ufull/x"} {
			if err := os.MkdirAll(s.fx.Path("scratch", d), 0o755); err != nil {
				return err
			}
		}
		return s.withScratch(func(dir lisafs.ClientFD) error {
			var e harness.Errs
			if err := dir.UnlinkAt(ctx, "u.txt", 0); err != nil {
				e.Add("file: %s", harness.ErrName(err))
			} else if err := harness.HostAbsent(s.fx.Path("scratch/u.txt")); err != nil {
				e.Add("%v", err)
			}
			if err := dir.UnlinkAt(ctx, "udir", 0); harness.WantErrno(err, unix.EISDIR) != nil {
				e.Add("dir without AT_REMOVEDIR: %v", harness.WantErrno(err, unix.EISDIR))
			}
			if err := dir.UnlinkAt(ctx, "udir", unix.AT_REMOVEDIR); err != nil {
				e.Add("dir: %s", harness.ErrName(err))
			} else if err := harness.HostAbsent(s.fx.Path("scratch/udir")); err != nil {
				e.Add("%v", err)
			}
			if err := dir.UnlinkAt(ctx, "ufull", unix.AT_REMOVEDIR); harness.WantErrno(err, unix.ENOTEMPTY) != nil {
				e.Add("non-empty dir: %v", harness.WantErrno(err, unix.ENOTEMPTY))
			}
			if err := dir.UnlinkAt(ctx, "nope", 0); harness.WantErrno(err, unix.ENOENT) != nil {
				e.Add("missing: %v", harness.WantErrno(err, unix.ENOENT))
			}
			if _, err := s.hostFile("u2.txt", nil, 0o644); err == nil {
				if err := dir.UnlinkAt(ctx, "u2.txt", unix.AT_REMOVEDIR); harness.WantErrno(err, unix.ENOTDIR) != nil {
					e.Add("file with AT_REMOVEDIR: %v", harness.WantErrno(err, unix.ENOTDIR))
				}
			}
			ctl, _, err := s.walk("a.txt")
			if err != nil {
				return err
			}
			defer s.closeFDs(ctl)
			if err := ctl.UnlinkAt(ctx, "x", 0); harness.WantErrno(err, unix.ENOTDIR) != nil {
				e.Add("on a file FD: %v", harness.WantErrno(err, unix.ENOTDIR))
			}
			return e.Err()
		})
	})
	s.Check("UnlinkAt: FDs on a deleted directory: walks find nothing, creation -> EINVAL", func() error {
		if err := os.MkdirAll(s.fx.Path("scratch/gone"), 0o755); err != nil {
			return err
		}
		gone, _, err := s.walk("scratch/gone")
		if err != nil {
			return err
		}
		defer s.closeFDs(gone)
		if err := s.withScratch(func(dir lisafs.ClientFD) error {
			return dir.UnlinkAt(ctx, "gone", unix.AT_REMOVEDIR)
		}); err != nil {
			return harness.Wrap("UnlinkAt", err)
		}
		var e harness.Errs
		if _, err := gone.Walk(ctx, "x"); harness.WantErrno(err, unix.ENOENT) != nil {
			e.Add("Walk: %v", harness.WantErrno(err, unix.ENOENT))
		}
		uid, gid := s.ownerIDs()
		if _, err := gone.MkdirAt(ctx, "x", 0o755, uid, gid); harness.WantErrno(err, unix.EINVAL) != nil {
			e.Add("MkdirAt: %v", harness.WantErrno(err, unix.EINVAL))
		}
		var st statx
		if err := gone.StatTo(ctx, &st); err != nil {
			e.Add("StatTo: %s", harness.ErrName(err))
		} else if st.Nlink != 0 {
			e.Add("StatTo nlink %d, want 0", st.Nlink)
		}
		return e.Err()
	})
	s.Check("RenameAt: within a directory, across directories, replacing a file", func() error {
		if _, err := s.hostFile("r1.txt", []byte("r1"), 0o644); err != nil {
			return err
		}
		if _, err := s.hostFile("r2.txt", []byte("r2"), 0o644); err != nil {
			return err
		}
		return s.withScratch(func(dir lisafs.ClientFD) error {
			var e harness.Errs
			before, _ := hostStat(s.fx.Path("scratch/r1.txt"))
			if err := renameAt(&dir, "r1.txt", dir.ID(), "r1b.txt"); err != nil {
				return harness.Wrap("RenameAt", err)
			}
			after, err := hostStat(s.fx.Path("scratch/r1b.txt"))
			if err != nil || after.Ino != before.Ino || harness.HostExists(s.fx.Path("scratch/r1.txt")) {
				e.Add("same-dir rename not reflected on the host (%v)", err)
			}
			empty, _, err := s.walk("empty")
			if err != nil {
				return err
			}
			defer s.closeFDs(empty)
			if err := renameAt(&dir, "r1b.txt", empty.ID(), "moved.txt"); err != nil {
				e.Add("cross-dir: %s", harness.ErrName(err))
			} else if got := string(harness.ReadHostFile(s.fx.Path("empty/moved.txt"))); got != "r1" {
				e.Add("cross-dir: host content %q", got)
			} else if err := renameAt(&empty, "moved.txt", dir.ID(), "r1.txt"); err != nil {
				e.Add("moving back: %s", harness.ErrName(err))
			}
			if err := renameAt(&dir, "r1.txt", dir.ID(), "r2.txt"); err != nil {
				e.Add("replace: %s", harness.ErrName(err))
			} else if got := string(harness.ReadHostFile(s.fx.Path("scratch/r2.txt"))); got != "r1" {
				e.Add("replace: host content %q", got)
			}
			if err := renameAt(&dir, "r2.txt", dir.ID(), "r2.txt"); err != nil {
				e.Add("same name: %s", harness.ErrName(err))
			}
			if err := renameAt(&dir, "nope", dir.ID(), "x"); harness.WantErrno(err, unix.ENOENT) != nil {
				e.Add("missing: %v", harness.WantErrno(err, unix.ENOENT))
			}
			return e.Err()
		})
	})
	s.Check("RenameAt: directory into its own subdirectory -> EINVAL; non-directory FDs -> ENOTDIR", func() error {
		if err := os.MkdirAll(s.fx.Path("scratch/loop/in"), 0o755); err != nil {
			return err
		}
		in, _, err := s.walk("scratch/loop/in")
		if err != nil {
			return err
		}
		defer s.closeFDs(in)
		file, _, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer s.closeFDs(file)
		return s.withScratch(func(dir lisafs.ClientFD) error {
			var e harness.Errs
			if err := renameAt(&dir, "loop", in.ID(), "x"); harness.WantErrno(err, unix.EINVAL) != nil {
				e.Add("into itself: %v", harness.WantErrno(err, unix.EINVAL))
			}
			if err := renameAt(&dir, "loop", file.ID(), "x"); harness.WantErrno(err, unix.ENOTDIR) != nil {
				e.Add("new dir is a file: %v", harness.WantErrno(err, unix.ENOTDIR))
			}
			if err := renameAt(&file, "x", dir.ID(), "y"); harness.WantErrno(err, unix.ENOTDIR) != nil {
				e.Add("old dir is a file: %v", harness.WantErrno(err, unix.ENOTDIR))
			}
			return e.Err()
		})
	})
	s.Check("RenameAt: FDs opened below a renamed directory keep working at the new path", func() error {
		base := s.fx.Path("scratch/rd")
		if err := os.MkdirAll(base+"/sub", 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(base+"/sub/f", []byte("below"), 0o644); err != nil {
			return err
		}
		if err := os.Symlink("f", base+"/sub/sl"); err != nil {
			return err
		}
		sub, _, err := s.walk("scratch/rd/sub")
		if err != nil {
			return err
		}
		defer s.closeFDs(sub)
		fctl, _, err := s.walk("scratch/rd/sub/f")
		if err != nil {
			return err
		}
		defer s.closeFDs(fctl)
		sl, _, err := s.walk("scratch/rd/sub/sl")
		if err != nil {
			return err
		}
		defer s.closeFDs(sl)
		o, err := s.open("scratch/rd/sub/f", unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer o.close()

		if err := s.withScratch(func(dir lisafs.ClientFD) error {
			return renameAt(&dir, "rd", dir.ID(), "rd2")
		}); err != nil {
			return harness.Wrap("RenameAt(rd, rd2)", err)
		}
		nb := s.fx.Path("scratch/rd2")
		var e harness.Errs
		if harness.HostExists(base) || !harness.HostExists(nb+"/sub/f") {
			e.Add("host rename not done")
		}
		if _, err := s.root().WalkStat(ctx, []string{"scratch", "rd"}); err != nil {
			e.Add("WalkStat: %s", harness.ErrName(err))
		}
		ino, err := sub.Walk(ctx, "f")
		if err != nil {
			e.Add("Walk(sub, f): %s", harness.ErrName(err))
		} else {
			s.closeInodes([]lisafs.Inode{ino})
			if err := compareStat("sub/f", ino.Stat, nb+"/sub/f"); err != nil {
				e.Add("%v", err)
			}
		}
		var st statx
		if err := sub.StatTo(ctx, &st); err != nil {
			e.Add("StatTo(sub): %s", harness.ErrName(err))
		} else if err := compareStat("sub", st, nb+"/sub"); err != nil {
			e.Add("%v", err)
		}
		if got, err := readAt(o.ofd, 0, 10); err != nil || string(got) != "below" {
			e.Add("PRead of the open FD: %q %v", got, err)
		}
		// These resolve the node's path on the server (parent of a symlink,
		// parent of a link target): they must use the new path.
		if err := setStat(sl, &linux.Statx{Mask: unix.STATX_ATIME | unix.STATX_MTIME, Atime: testAtime, Mtime: testMtime}); err != nil {
			e.Add("SetStat times on the symlink: %v", err)
		} else if err := checkTimes(nb+"/sub/sl", testAtime, testMtime); err != nil {
			e.Add("%v", err)
		}
		if ino, err := sub.LinkAt(ctx, fctl.ID(), "hard"); err != nil {
			e.Add("LinkAt with a target below the renamed dir: %s", harness.ErrName(err))
		} else {
			s.closeInodes([]lisafs.Inode{ino})
			if !harness.HostExists(nb + "/sub/hard") {
				e.Add("hard link not on the host")
			}
		}
		uid, gid := s.ownerIDs()
		if ino, err := sub.MkdirAt(ctx, "newdir", 0o755, uid, gid); err != nil {
			e.Add("MkdirAt in the renamed subtree: %s", harness.ErrName(err))
		} else {
			s.closeInodes([]lisafs.Inode{ino})
			if !harness.HostExists(nb + "/sub/newdir") {
				e.Add("newdir not on the host")
			}
		}
		if _, err := s.root().Walk(ctx, "rd"); err == nil {
			e.Add("old name still walkable")
		}
		return e.Err()
	})
}

// checkBadNames sends every name-taking RPC the invalid names.
func (s *Suite) checkBadNames(want unix.Errno) {
	title := `names "", ".", "..", "a/b" -> EINVAL for OpenCreateAt, MkdirAt, MknodAt, SymlinkAt, LinkAt, UnlinkAt, RenameAt, BindAt`
	if want != unix.EINVAL {
		title = fmt.Sprintf(`invalid names on a read-only mount -> %s before name validation`, unix.ErrnoName(want))
	}
	s.Check(title, func() error {
		uid, gid := s.ownerIDs()
		target, _, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer s.closeFDs(target)
		return s.withScratch(func(dir lisafs.ClientFD) error {
			var e harness.Errs
			for _, n := range badNames {
				try := func(op string, err error, w unix.Errno) {
					if harness.WantErrno(err, w) != nil {
						e.Add("%s(%q): %v", op, n, harness.WantErrno(err, w))
					}
				}
				_, _, fd, err := dir.OpenCreateAt(ctx, n, unix.O_RDWR, 0o644, uid, gid)
				closeHostFD(fd)
				try("OpenCreateAt", err, want)
				_, err = dir.MkdirAt(ctx, n, 0o755, uid, gid)
				try("MkdirAt", err, want)
				_, err = dir.MknodAt(ctx, n, unix.S_IFREG|0o644, uid, gid, 0, 0)
				try("MknodAt", err, want)
				_, err = dir.SymlinkAt(ctx, n, "t", uid, gid)
				try("SymlinkAt", err, want)
				_, err = dir.LinkAt(ctx, target.ID(), n)
				try("LinkAt", err, want)
				try("UnlinkAt", dir.UnlinkAt(ctx, n, 0), want)
				try("RenameAt(old)", renameAt(&dir, n, dir.ID(), "x"), want)
				try("RenameAt(new)", renameAt(&dir, "x", dir.ID(), n), want)
				// BindAt validates names before anything else, even on a
				// read-only mount (20240729); today's refuses a read-only
				// mount first.
				_, b, err := dir.BindAt(ctx, unix.SOCK_STREAM, n, 0o755, uid, gid)
				if b != nil {
					b.Close(ctx)
				}
				if today {
					try("BindAt", err, want)
				} else {
					try("BindAt", err, unix.EINVAL)
				}
			}
			return e.Err()
		})
	})
}

// checkEBADF sends every RPC an FD ID the server never handed out.
func (s *Suite) checkEBADF() {
	s.Check("unknown FD IDs -> EBADF for every RPC", func() error {
		bad := s.fd(badFDID)
		uid, gid := s.ownerIDs()
		var e harness.Errs
		try := func(op string, err error) {
			if harness.WantErrno(err, unix.EBADF) != nil {
				e.Add("%s: %v", op, harness.WantErrno(err, unix.EBADF))
			}
		}
		var st statx
		try("StatTo", bad.StatTo(ctx, &st))
		_, _, err := bad.SetStat(ctx, &linux.Statx{Mask: unix.STATX_MODE, Mode: 0o644})
		try("SetStat", err)
		_, _, err = bad.WalkMultiple(ctx, []string{"a.txt"})
		try("WalkMultiple", err)
		_, err = bad.WalkStat(ctx, []string{"a.txt"})
		try("WalkStat", err)
		_, fd, err := bad.OpenAt(ctx, unix.O_RDONLY)
		closeHostFD(fd)
		try("OpenAt", err)
		_, _, fd, err = bad.OpenCreateAt(ctx, "x", unix.O_RDWR, 0o644, uid, gid)
		closeHostFD(fd)
		try("OpenCreateAt", err)
		try("Sync", bad.Sync(ctx))
		_, err = bad.Write(ctx, []byte("x"), 0)
		try("PWrite", err)
		_, err = bad.Read(ctx, make([]byte, 8), 0)
		try("PRead", err)
		_, err = bad.MkdirAt(ctx, "x", 0o755, uid, gid)
		try("MkdirAt", err)
		_, err = bad.MknodAt(ctx, "x", unix.S_IFREG|0o644, uid, gid, 0, 0)
		try("MknodAt", err)
		_, err = bad.SymlinkAt(ctx, "x", "t", uid, gid)
		try("SymlinkAt", err)
		_, err = bad.LinkAt(ctx, s.g.Root.ControlFD, "x")
		try("LinkAt(dir)", err)
		_, err = s.root().LinkAt(ctx, badFDID, "x")
		try("LinkAt(target)", err)
		var sfs lisafs.StatFS
		try("StatFSTo", bad.StatFSTo(ctx, &sfs))
		try("Allocate", bad.Allocate(ctx, 0, 0, 10))
		_, err = bad.ReadLinkAt(ctx)
		try("ReadLinkAt", err)
		_, err = connectSock(bad, unix.SOCK_STREAM)
		try("Connect", err)
		try("UnlinkAt", bad.UnlinkAt(ctx, "x", 0))
		try("RenameAt(old dir)", renameAt(bad, "x", s.g.Root.ControlFD, "y"))
		try("RenameAt(new dir)", renameAt(s.root(), "x", badFDID, "y"))
		_, err = bad.Getdents64(ctx, 4096)
		try("Getdents64", err)
		_, err = bad.GetXattr(ctx, "user.x", 64)
		try("GetXattr", err)
		try("SetXattr", bad.SetXattr(ctx, "user.x", "v", 0))
		_, _, err = bad.BindAt(ctx, unix.SOCK_STREAM, "x", 0o755, uid, gid)
		try("BindAt", err)
		if s.g.Client.IsSupported(lisafs.Flush) {
			try("Flush", bad.Flush(ctx))
		}
		if s.g.Client.IsSupported(lisafs.FListXattr) {
			_, err = bad.ListXattr(ctx, 4096)
			try("ListXattr", err)
		}
		if s.g.Client.IsSupported(lisafs.FRemoveXattr) {
			try("RemoveXattr", bad.RemoveXattr(ctx, "user.x"))
		}
		return e.Err()
	})
}

// checkCloseFDs covers Close and batched closes.
func (s *Suite) checkCloseFDs() {
	s.Check("Close: a closed FD ID is EBADF afterwards", func() error {
		ctl, _, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		id := ctl.ID()
		ctl.Close(ctx, true)
		var st statx
		return harness.WantErrno(s.fd(id).StatTo(ctx, &st), unix.EBADF)
	})
	s.Check("CloseBatched: FDs queued with flush=false stay open until the batch is sent", func() error {
		var ids []lisafs.FDID
		for i := 0; i < 10; i++ {
			ino, err := s.root().Walk(ctx, "d1")
			if err != nil {
				return harness.Wrap("Walk", err)
			}
			ids = append(ids, ino.ControlFD)
		}
		for _, id := range ids[:9] {
			s.g.Client.CloseFD(ctx, id, false)
		}
		var st statx
		if err := s.fd(ids[0]).StatTo(ctx, &st); err != nil {
			return fmt.Errorf("queued FD already closed on the server: %s", harness.ErrName(err))
		}
		s.g.Client.CloseFD(ctx, ids[9], true)
		for _, id := range ids {
			if err := harness.WantErrno(s.fd(id).StatTo(ctx, &st), unix.EBADF); err != nil {
				return fmt.Errorf("FD %d after the batch: %v", id, err)
			}
		}
		return nil
	})
	s.Check("Close: an open FD survives closing its control FD", func() error {
		o, err := s.open("a.txt", unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer o.close()
		o.ctl.Close(ctx, true)
		got, err := readAt(o.ofd, 0, 10)
		if err != nil {
			return harness.Wrap("PRead after closing the control FD", err)
		}
		return harness.CompareBytes("PRead", got, s.fx.AContent()[:10])
	})
	s.Check("Close: unknown FD IDs are ignored and the connection stays up", func() error {
		s.g.Client.CloseFD(ctx, badFDID, true)
		var st statx
		return harness.Wrap("StatTo(root) afterwards", s.root().StatTo(ctx, &st))
	})
	s.Check("Close: server FD count returns to its baseline after 300 walk/open/close cycles", func() error {
		before, err := s.countServerFDs()
		if err != nil {
			return err
		}
		for i := 0; i < 300; i++ {
			o, err := s.open("d1/d2/d3/d4/f5", unix.O_RDONLY)
			if err != nil {
				return err
			}
			o.close()
		}
		after, err := s.countServerFDs()
		if err != nil {
			return err
		}
		if after > before+2 {
			return fmt.Errorf("server had %d FDs before and %d after", before, after)
		}
		return nil
	})
}
