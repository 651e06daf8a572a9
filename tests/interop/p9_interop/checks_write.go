package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/p9"

	"gofer/tests/interop/harness"
)

// scratchFile creates a host file under scratch/ and returns its relative path.
func (s *Suite) scratchFile(name string, content []byte, mode os.FileMode) (string, error) {
	rel := "scratch/" + name
	return rel, os.WriteFile(s.fx.Path(rel), content, mode)
}

func (s *Suite) checkCreate() {
	uid, gid := s.ownerIDs()
	wu, wg := s.wantOwner(uid, gid)
	kind := "Tucreate"
	if s.version() < 3 {
		kind = "Tlcreate"
	}
	s.Check(fmt.Sprintf("Create (%s): exact mode (no umask), owner, QID; the fid becomes the opened file; donated FD", kind), func() error {
		dir, err := s.walk("scratch")
		if err != nil {
			return err
		}
		defer dir.Close()
		host, nf, qid, _, err := dir.Create("created.txt", p9.ReadWrite, 0o777, uid, gid)
		if err != nil {
			return harness.Wrap("Create", err)
		}
		if host != nil {
			defer host.Close()
		}
		p := s.fx.Path("scratch/created.txt")
		var e harness.Errs
		if err := harness.CheckMode(p, unix.S_IFREG|0o777); err != nil {
			e.Add("%v", err)
		}
		if err := harness.CheckOwner(p, wu, wg); err != nil {
			e.Add("%v", err)
		}
		if err := compareQID("Rucreate QID", qid, p); err != nil {
			e.Add("%v", err)
		}
		if nf != dir {
			e.Add("Create returned a different File than its receiver")
		}
		if host == nil {
			e.Add("no host FD donated")
		} else {
			if err := harness.SameFile(host.FD(), p); err != nil {
				e.Add("%v", err)
			}
			if err := harness.CheckNonblock("Create", host.FD()); err != nil {
				e.Add("%v", err)
			}
			if _, err := unix.Pwrite(host.FD(), []byte("via donated fd"), 0); err != nil {
				e.Add("pwrite(donated FD): %v", err)
			}
		}
		if n, err := nf.WriteAt([]byte("VIA"), 0); err != nil || n != 3 {
			e.Add("WriteAt: %d, %s", n, harness.ErrName(err))
		}
		want := "VIA donated fd"
		if host == nil {
			want = "VIA"
		}
		if got := string(harness.ReadHostFile(p)); got != want {
			e.Add("host content %q, want %q", got, want)
		}
		if b, err := readFull(nf, 0, 100); err != nil || string(b) != want {
			e.Add("ReadAt: %q, %s", b, harness.ErrName(err))
		}
		qid2, valid, attr, err := nf.GetAttr(p9.AttrMaskAll())
		if e.OK("GetAttr(created)", err) {
			if err := compareAttr("created", valid, attr, p); err != nil {
				e.Add("%v", err)
			}
			if qid2 != qid {
				e.Add("GetAttr QID %v != Create QID %v", qid2, qid)
			}
		}
		e.OK("FSync(created)", nf.FSync())
		return e.Err()
	})
	s.Check("Create: existing name -> EEXIST; ReadOnly-created -> WriteAt EPERM; WriteOnly-created -> ReadAt EPERM", func() error {
		var e harness.Errs
		err := s.withDir("scratch", func(dir p9.File) error {
			_, _, _, _, err := dir.Create("created.txt", p9.ReadWrite, 0o644, uid, gid)
			e.Want("existing", err, unix.EEXIST)
			return nil
		})
		if err != nil {
			return err
		}
		err = s.withDir("scratch", func(dir p9.File) error {
			host, f, _, _, err := dir.Create("ro-created", p9.ReadOnly, 0o644, uid, gid)
			if !e.OK("Create ReadOnly", err) {
				return nil
			}
			if host != nil {
				host.Close()
			}
			_, err = f.WriteAt([]byte("x"), 0)
			e.Want("WriteAt on ReadOnly-created", err, unix.EPERM)
			_, err = f.ReadAt(make([]byte, 4), 0)
			if harness.ErrnoOf(err) != 0 {
				e.Add("ReadAt on ReadOnly-created: %s", harness.ErrName(err))
			}
			return nil
		})
		if err != nil {
			return err
		}
		return s.withDir("scratch", func(dir p9.File) error {
			host, f, _, _, err := dir.Create("wo-created", p9.WriteOnly, 0o644, uid, gid)
			if !e.OK("Create WriteOnly", err) {
				return e.Err()
			}
			if host != nil {
				host.Close()
			}
			_, err = f.ReadAt(make([]byte, 4), 0)
			e.Want("ReadAt on WriteOnly-created", err, unix.EPERM)
			if n, err := f.WriteAt([]byte("wo"), 0); err != nil || n != 2 {
				e.Add("WriteAt on WriteOnly-created: %d, %s", n, harness.ErrName(err))
			} else if got := string(harness.ReadHostFile(s.fx.Path("scratch/wo-created"))); got != "wo" {
				e.Add("host content %q", got)
			}
			return e.Err()
		})
	})
	kind = "Tumkdir"
	if s.version() < 3 {
		kind = "Tmkdir"
	}
	s.Check(fmt.Sprintf("Mkdir (%s): exact mode, owner, QID; existing -> EEXIST", kind), func() error {
		return s.withDir("scratch", func(dir p9.File) error {
			var e harness.Errs
			qid, err := dir.Mkdir("newdir", 0o750, uid, gid)
			if err != nil {
				return harness.Wrap("Mkdir", err)
			}
			p := s.fx.Path("scratch/newdir")
			if err := harness.CheckMode(p, unix.S_IFDIR|0o750); err != nil {
				e.Add("%v", err)
			}
			if err := harness.CheckOwner(p, wu, wg); err != nil {
				e.Add("%v", err)
			}
			if err := compareQID("Rmkdir QID", qid, p); err != nil {
				e.Add("%v", err)
			}
			_, err = dir.Mkdir("newdir", 0o750, uid, gid)
			e.Want("Mkdir existing", err, unix.EEXIST)
			_, err = dir.Mkdir("created.txt", 0o750, uid, gid)
			e.Want("Mkdir over a file", err, unix.EEXIST)
			return e.Err()
		})
	})
	kind = "Tusymlink"
	if s.version() < 3 {
		kind = "Tsymlink"
	}
	s.Check(fmt.Sprintf("Symlink (%s): target, owner, QID; Readlink; existing -> EEXIST", kind), func() error {
		return s.withDir("scratch", func(dir p9.File) error {
			var e harness.Errs
			qid, err := dir.Symlink("some/where/../else", "sym", uid, gid)
			if err != nil {
				return harness.Wrap("Symlink", err)
			}
			p := s.fx.Path("scratch/sym")
			if t, err := os.Readlink(p); err != nil || t != "some/where/../else" {
				e.Add("host readlink %q, %v", t, err)
			}
			if err := harness.CheckOwner(p, wu, wg); err != nil {
				e.Add("%v", err)
			}
			if err := compareQID("Rsymlink QID", qid, p); err != nil {
				e.Add("%v", err)
			}
			_, f, err := dir.Walk([]string{"sym"})
			if e.OK("Walk sym", err) {
				if t, err := f.Readlink(); err != nil || t != "some/where/../else" {
					e.Add("Readlink %q, %s", t, harness.ErrName(err))
				}
				f.Close()
			}
			_, err = dir.Symlink("x", "sym", uid, gid)
			e.Want("Symlink existing", err, unix.EEXIST)
			_, err = dir.Symlink("", "empty-target", uid, gid)
			e.Want("Symlink with an empty target (host symlinkat)", err, unix.ENOENT)
			return e.Err()
		})
	})
	kind = "Tumknod"
	if s.version() < 3 {
		kind = "Tmknod"
	}
	s.Check(fmt.Sprintf("Mknod (%s): regular file with mode, owner, QID; it opens and writes", kind), func() error {
		return s.withDir("scratch", func(dir p9.File) error {
			var e harness.Errs
			qid, err := dir.Mknod("node", p9.ModeRegular|0o640, 0, 0, uid, gid)
			if err != nil {
				return harness.Wrap("Mknod", err)
			}
			p := s.fx.Path("scratch/node")
			if err := harness.CheckMode(p, unix.S_IFREG|0o640); err != nil {
				e.Add("%v", err)
			}
			if err := harness.CheckOwner(p, wu, wg); err != nil {
				e.Add("%v", err)
			}
			if err := compareQID("Rmknod QID", qid, p); err != nil {
				e.Add("%v", err)
			}
			o, err := s.open("scratch/node", p9.ReadWrite)
			if e.OK("open node", err) {
				if _, err := o.f.WriteAt([]byte("node data"), 0); err != nil {
					e.Add("WriteAt: %s", harness.ErrName(err))
				} else if got := string(harness.ReadHostFile(p)); got != "node data" {
					e.Add("host content %q", got)
				}
				o.close()
			}
			_, err = dir.Mknod("node", p9.ModeRegular|0o640, 0, 0, uid, gid)
			e.Want("Mknod existing", err, unix.EEXIST)
			return e.Err()
		})
	})
	s.Check("Create/Mkdir/Mknod/Symlink over a dangling symlink to outside the mount -> EEXIST, nothing created outside", func() error {
		outside, err := os.MkdirTemp("", "gofer-p9-outside-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(outside)
		target := filepath.Join(outside, "target")
		if err := os.Symlink(target, s.fx.Path("scratch/dangle")); err != nil {
			return err
		}
		var e harness.Errs
		err = s.withDir("scratch", func(dir p9.File) error {
			_, err := dir.Mkdir("dangle", 0o755, uid, gid)
			e.Want("Mkdir", err, unix.EEXIST)
			_, err = dir.Mknod("dangle", p9.ModeRegular|0o644, 0, 0, uid, gid)
			e.Want("Mknod", err, unix.EEXIST)
			_, err = dir.Symlink("x", "dangle", uid, gid)
			e.Want("Symlink", err, unix.EEXIST)
			host, _, _, _, err := dir.Create("dangle", p9.ReadWrite, 0o644, uid, gid)
			if host != nil {
				host.Close()
			}
			e.Want("Create", err, unix.EEXIST)
			return nil
		})
		if err != nil {
			return err
		}
		if harness.HostExists(target) {
			e.Add("SECURITY: %s was created through the symlink", target)
		}
		return e.Err()
	})
	if s.standardClient() {
		s.Check("Mknod (plain 9P2000.L, as diod): FIFO and socket are made; character/block device -> EPERM without --allow-device-nodes", func() error {
			return s.withDir("scratch", func(dir p9.File) error {
				var e harness.Errs
				for i, m := range []p9.FileMode{p9.ModeNamedPipe, p9.ModeCharacterDevice, p9.ModeBlockDevice, p9.ModeSocket} {
					name := fmt.Sprintf("special%d", i)
					_, err := dir.Mknod(name, m|0o644, 1, 3, uid, gid)
					var st unix.Stat_t
					if m == p9.ModeNamedPipe || m == p9.ModeSocket {
						if err != nil {
							e.Add("Mknod(%#o): %s", uint32(m), harness.ErrName(err))
						} else if err := unix.Lstat(s.fx.Path("scratch", name), &st); err != nil || st.Mode&unix.S_IFMT != uint32(m) {
							e.Add("Mknod(%#o): host has mode %#o (%v)", uint32(m), st.Mode, err)
						}
						continue
					}
					e.Want(fmt.Sprintf("Mknod(%#o)", uint32(m)), err, unix.EPERM)
					if err := harness.HostAbsent(s.fx.Path("scratch", name)); err != nil {
						e.Add("%v", err)
					}
				}
				return e.Err()
			})
		})
	} else {
		s.Check("Mknod: FIFO, character/block device, socket -> EPERM (fsgofer.go Mknod), nothing created", func() error {
			return s.withDir("scratch", func(dir p9.File) error {
				var e harness.Errs
				for i, m := range []p9.FileMode{p9.ModeNamedPipe, p9.ModeCharacterDevice, p9.ModeBlockDevice, p9.ModeSocket} {
					name := fmt.Sprintf("special%d", i)
					_, err := dir.Mknod(name, m|0o644, 1, 3, uid, gid)
					e.Want(fmt.Sprintf("Mknod(%#o)", uint32(m)), err, unix.EPERM)
					if err := harness.HostAbsent(s.fx.Path("scratch", name)); err != nil {
						e.Add("%v", err)
					}
				}
				return e.Err()
			})
		})
	}
}

func (s *Suite) checkWrite() {
	s.Check("Open ReadWrite: WriteAt (incl. sparse and 3 MiB chunked) reaches the host; ReadAt reads it back", func() error {
		rel, err := s.scratchFile("rw.bin", nil, 0o644)
		if err != nil {
			return err
		}
		o, err := s.open(rel, p9.ReadWrite)
		if err != nil {
			return err
		}
		defer o.close()
		var e harness.Errs
		if n, err := o.f.WriteAt([]byte("hello"), 0); err != nil || n != 5 {
			e.Add("WriteAt(0): %d, %s", n, harness.ErrName(err))
		}
		if n, err := o.f.WriteAt(nil, 0); err != nil || n != 0 {
			e.Add("WriteAt of 0 bytes: %d, %s", n, harness.ErrName(err))
		}
		if n, err := o.f.WriteAt([]byte("tail"), 10000); err != nil || n != 4 {
			e.Add("WriteAt(10000): %d, %s", n, harness.ErrName(err))
		}
		want := make([]byte, 10004)
		copy(want, "hello")
		copy(want[10000:], "tail")
		if err := harness.CompareBytes("host after sparse writes", harness.ReadHostFile(s.fx.Path(rel)), want); err != nil {
			e.Add("%v", err)
		}
		big := harness.Pattern(3<<20+77, 5)
		if n, err := o.f.WriteAt(big, 20000); err != nil || n != len(big) {
			e.Add("WriteAt(3 MiB): %d, %s", n, harness.ErrName(err))
		}
		want = append(want, make([]byte, 20000-len(want))...)
		want = append(want, big...)
		if err := harness.CompareBytes("host after 3 MiB write", harness.ReadHostFile(s.fx.Path(rel)), want); err != nil {
			e.Add("%v", err)
		}
		if b, err := readFull(o.f, 0, len(want)+10); err != nil {
			e.Add("ReadAt: %s", harness.ErrName(err))
		} else if err := harness.CompareBytes("ReadAt", b, want); err != nil {
			e.Add("%v", err)
		}
		e.OK("FSync", o.f.FSync())
		_, valid, attr, err := o.f.GetAttr(p9.AttrMaskAll())
		if e.OK("GetAttr after writes", err) {
			if err := compareAttr("after writes", valid, attr, s.fx.Path(rel)); err != nil {
				e.Add("%v", err)
			}
		}
		if o.host == nil {
			e.Add("no host FD donated")
		} else if _, err := unix.Pwrite(o.host.FD(), []byte("HELLO"), 0); err != nil {
			e.Add("pwrite(donated RW FD): %v", err)
		} else if b, err := readFull(o.f, 0, 5); err != nil || string(b) != "HELLO" {
			e.Add("ReadAt after pwrite on the donated FD: %q, %s", b, harness.ErrName(err))
		}
		return e.Err()
	})
	s.Check("Open WriteOnly: WriteAt works, ReadAt -> EPERM, donated FD writes", func() error {
		rel, err := s.scratchFile("wo.txt", []byte("0123456789"), 0o644)
		if err != nil {
			return err
		}
		o, err := s.open(rel, p9.WriteOnly)
		if err != nil {
			return err
		}
		defer o.close()
		var e harness.Errs
		_, err = o.f.ReadAt(make([]byte, 4), 0)
		e.Want("ReadAt", err, unix.EPERM)
		if n, err := o.f.WriteAt([]byte("ab"), 2); err != nil || n != 2 {
			e.Add("WriteAt: %d, %s", n, harness.ErrName(err))
		}
		if o.host == nil {
			e.Add("no host FD donated")
		} else {
			if err := harness.SameFile(o.host.FD(), s.fx.Path(rel)); err != nil {
				e.Add("%v", err)
			}
			if _, err := unix.Pwrite(o.host.FD(), []byte("Z"), 9); err != nil {
				e.Add("pwrite(donated WO FD): %v", err)
			}
		}
		want := "01ab45678Z"
		if o.host == nil {
			want = "01ab456789"
		}
		if got := string(harness.ReadHostFile(s.fx.Path(rel))); got != want {
			e.Add("host content %q, want %q", got, want)
		}
		return e.Err()
	})
	s.Check("Open passes only the access mode and O_TRUNC to the host (O_APPEND, O_CREAT|O_EXCL ignored: fsgofer.go allowedOpenFlags)", func() error {
		rel, err := s.scratchFile("append.txt", []byte("0123456789"), 0o644)
		if err != nil {
			return err
		}
		o, err := s.open(rel, p9.ReadWrite|p9.OpenFlags(unix.O_APPEND|unix.O_CREAT|unix.O_EXCL))
		if err != nil {
			return err
		}
		defer o.close()
		var e harness.Errs
		if n, err := o.f.WriteAt([]byte("AB"), 0); err != nil || n != 2 {
			e.Add("WriteAt: %d, %s", n, harness.ErrName(err))
		}
		if got := string(harness.ReadHostFile(s.fx.Path(rel))); got != "AB23456789" {
			e.Add("host content %q, want AB23456789 (WriteAt at offset 0 must not append)", got)
		}
		return e.Err()
	})
	s.Check("Open ReadOnly|OpenTruncate truncates too (the reference reopens with O_RDONLY|O_TRUNC)", func() error {
		rel, err := s.scratchFile("trunc-ro.txt", []byte("some content"), 0o644)
		if err != nil {
			return err
		}
		o, err := s.open(rel, p9.ReadOnly|p9.OpenTruncate)
		if err != nil {
			return err
		}
		defer o.close()
		var e harness.Errs
		if st, _ := hostStat(s.fx.Path(rel)); st.Size != 0 {
			e.Add("host size %d", st.Size)
		}
		_, err = o.f.WriteAt([]byte("x"), 0)
		e.Want("WriteAt", err, unix.EPERM)
		return e.Err()
	})
	s.Check("Open ReadWrite|OpenTruncate truncates the host file", func() error {
		rel, err := s.scratchFile("trunc.txt", []byte("some content"), 0o644)
		if err != nil {
			return err
		}
		o, err := s.open(rel, p9.ReadWrite|p9.OpenTruncate)
		if err != nil {
			return err
		}
		defer o.close()
		st, err := hostStat(s.fx.Path(rel))
		if err != nil {
			return err
		}
		if st.Size != 0 {
			return fmt.Errorf("host size %d after OpenTruncate", st.Size)
		}
		return nil
	})
	if s.version() >= 7 {
		s.Check("Allocate (Tallocate): extends the file; KeepSize keeps the size; PunchHole zeroes", func() error {
			rel, err := s.scratchFile("alloc.bin", bytes.Repeat([]byte{0xaa}, 8192), 0o644)
			if err != nil {
				return err
			}
			o, err := s.open(rel, p9.ReadWrite)
			if err != nil {
				return err
			}
			defer o.close()
			var e harness.Errs
			p := s.fx.Path(rel)
			if e.OK("Allocate(0, 1 MiB)", o.f.Allocate(p9.AllocateMode{}, 0, 1<<20)) {
				if st, _ := hostStat(p); st.Size != 1<<20 || st.Blocks*512 < 1<<20 {
					e.Add("after Allocate: size %d blocks %d", st.Size, st.Blocks)
				}
			}
			before, _ := hostStat(p)
			if e.OK("Allocate(KeepSize, 1 MiB, 1 MiB)", o.f.Allocate(p9.AllocateMode{KeepSize: true}, 1<<20, 1<<20)) {
				if st, _ := hostStat(p); st.Size != 1<<20 || st.Blocks <= before.Blocks {
					e.Add("after KeepSize: size %d blocks %d (before %d)", st.Size, st.Blocks, before.Blocks)
				}
			}
			if e.OK("Allocate(PunchHole|KeepSize, 0, 4096)", o.f.Allocate(p9.AllocateMode{PunchHole: true, KeepSize: true}, 0, 4096)) {
				b := harness.ReadHostFile(p)
				if len(b) < 8192 || !bytes.Equal(b[:4096], make([]byte, 4096)) || b[4096] != 0xaa {
					e.Add("host content after PunchHole is not zeroes then 0xaa")
				}
			}
			return e.Err()
		})
	}
	name := "SetAttrClose (Tsetattrclunk): sets size and times, then the fid is gone"
	if s.version() < 12 {
		name = "SetAttrClose (client falls back to Tsetattr+Tclunk below version 12)"
	}
	s.Check(name, func() error {
		rel, err := s.scratchFile("sac.txt", []byte("0123456789"), 0o644)
		if err != nil {
			return err
		}
		o, err := s.open(rel, p9.ReadWrite)
		if err != nil {
			return err
		}
		if o.host != nil {
			o.host.Close()
		}
		var e harness.Errs
		err = o.f.SetAttrClose(p9.SetAttrMask{Size: true, MTime: true, MTimeNotSystemTime: true},
			p9.SetAttr{Size: 3, MTimeSeconds: 1_500_000_000, MTimeNanoSeconds: 123456789})
		e.OK("SetAttrClose", err)
		st, _ := hostStat(s.fx.Path(rel))
		if st.Size != 3 || st.Mtim.Sec != 1_500_000_000 || st.Mtim.Nsec != 123456789 {
			e.Add("host size %d mtime %d.%09d", st.Size, st.Mtim.Sec, st.Mtim.Nsec)
		}
		if _, _, _, err := o.f.GetAttr(p9.AttrMaskAll()); harness.WantErrno(err, unix.EBADF) != nil {
			e.Add("GetAttr after SetAttrClose: %v", harness.WantErrno(err, unix.EBADF))
		}
		// A failing SetAttrClose still clunks the fid.
		f, err := s.walk(rel)
		if err != nil {
			return err
		}
		err = f.SetAttrClose(p9.SetAttrMask{CTime: true}, p9.SetAttr{})
		if s.version() == 0 && err == nil {
			s.Info("plain 9P2000.L: SetAttr's CTime bit is ignored (the reference answers EPERM)")
		} else {
			e.Want("SetAttrClose(CTime)", err, unix.EPERM)
		}
		e.Want("Close after a failed SetAttrClose", f.Close(), unix.EBADF)
		return e.Err()
	})
}

func (s *Suite) checkSetAttr() {
	s.Check("SetAttr: permissions of a file and a directory", func() error {
		rel, err := s.scratchFile("perm.txt", []byte("x"), 0o644)
		if err != nil {
			return err
		}
		if err := os.Mkdir(s.fx.Path("scratch/permdir"), 0o755); err != nil {
			return err
		}
		var e harness.Errs
		for rel, mode := range map[string]uint32{rel: unix.S_IFREG, "scratch/permdir": unix.S_IFDIR} {
			f, err := s.walk(rel)
			if err != nil {
				return err
			}
			if e.OK("SetAttr(Permissions) "+rel, f.SetAttr(p9.SetAttrMask{Permissions: true}, p9.SetAttr{Permissions: 0o1705})) {
				if err := harness.CheckMode(s.fx.Path(rel), mode|0o1705); err != nil {
					e.Add("%v", err)
				}
			}
			_, valid, attr, err := f.GetAttr(p9.AttrMaskAll())
			if e.OK("GetAttr", err) {
				if err := compareAttr(rel, valid, attr, s.fx.Path(rel)); err != nil {
					e.Add("%v", err)
				}
			}
			f.Close()
		}
		return e.Err()
	})
	s.Check("SetAttr: size of an unopened and of an opened-ReadOnly file (the server reopens for writing)", func() error {
		var e harness.Errs
		rel, err := s.scratchFile("size.txt", []byte("0123456789"), 0o644)
		if err != nil {
			return err
		}
		f, err := s.walk(rel)
		if err != nil {
			return err
		}
		if e.OK("SetAttr(Size 4)", f.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{Size: 4})) {
			if got := string(harness.ReadHostFile(s.fx.Path(rel))); got != "0123" {
				e.Add("host content %q after truncate to 4", got)
			}
		}
		f.Close()
		o, err := s.open(rel, p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		if e.OK("SetAttr(Size 20000) on ReadOnly-opened", o.f.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{Size: 20000})) {
			if st, _ := hostStat(s.fx.Path(rel)); st.Size != 20000 {
				e.Add("host size %d after extend to 20000", st.Size)
			}
		}
		return e.Err()
	})
	s.Check("SetAttr: explicit atime/mtime (file, dir, symlink not followed); 'now' times", func() error {
		var e harness.Errs
		rel, err := s.scratchFile("times.txt", []byte("x"), 0o644)
		if err != nil {
			return err
		}
		if err := os.Symlink("times.txt", s.fx.Path("scratch/times.lnk")); err != nil {
			return err
		}
		target, _ := hostStat(s.fx.Path(rel))
		for _, r := range []string{rel, "scratch", "scratch/times.lnk"} {
			f, err := s.walk(r)
			if err != nil {
				return err
			}
			err = f.SetAttr(p9.SetAttrMask{ATime: true, MTime: true, ATimeNotSystemTime: true, MTimeNotSystemTime: true},
				p9.SetAttr{ATimeSeconds: 1_000_000_000, ATimeNanoSeconds: 5, MTimeSeconds: 1_100_000_000, MTimeNanoSeconds: 777})
			if e.OK("SetAttr(times) "+r, err) {
				st, _ := hostStat(s.fx.Path(r))
				if st.Atim.Sec != 1_000_000_000 || st.Atim.Nsec != 5 || st.Mtim.Sec != 1_100_000_000 || st.Mtim.Nsec != 777 {
					e.Add("%s: host atime %d.%d mtime %d.%d", r, st.Atim.Sec, st.Atim.Nsec, st.Mtim.Sec, st.Mtim.Nsec)
				}
				if r == "scratch/times.lnk" {
					if st, _ := hostStat(s.fx.Path(rel)); st.Mtim != target.Mtim && st.Mtim.Sec != 1_100_000_000 {
						e.Add("symlink SetAttr changed its target")
					}
				}
			}
			f.Close()
		}
		// Setting a file's times first, then "now": the target's mtime
		// must not be the symlink's.
		f, err := s.walk(rel)
		if err != nil {
			return err
		}
		defer f.Close()
		start := time.Now().Add(-2 * time.Second).Unix()
		if e.OK("SetAttr(now)", f.SetAttr(p9.SetAttrMask{ATime: true, MTime: true}, p9.SetAttr{ATimeSeconds: 1, MTimeSeconds: 1})) {
			st, _ := hostStat(s.fx.Path(rel))
			if st.Mtim.Sec < start || st.Atim.Sec < start {
				e.Add("times not 'now': atime %d mtime %d (now ~%d)", st.Atim.Sec, st.Mtim.Sec, start+2)
			}
		}
		return e.Err()
	})
	if s.fx.IsRoot {
		s.Check("SetAttr: UID/GID of a file and of a symlink (not followed)", func() error {
			var e harness.Errs
			rel, err := s.scratchFile("own.txt", []byte("x"), 0o644)
			if err != nil {
				return err
			}
			if err := os.Symlink("own.txt", s.fx.Path("scratch/own.lnk")); err != nil {
				return err
			}
			for _, r := range []string{rel, "scratch/own.lnk"} {
				f, err := s.walk(r)
				if err != nil {
					return err
				}
				if e.OK("SetAttr(UID,GID) "+r, f.SetAttr(p9.SetAttrMask{UID: true, GID: true}, p9.SetAttr{UID: 4321, GID: 8765})) {
					if err := harness.CheckOwner(s.fx.Path(r), p9.UID(4321), p9.GID(8765)); err != nil {
						e.Add("%v", err)
					}
				}
				f.Close()
			}
			f, err := s.walk(rel)
			if err != nil {
				return err
			}
			defer f.Close()
			if e.OK("SetAttr(GID only)", f.SetAttr(p9.SetAttrMask{GID: true}, p9.SetAttr{UID: 1, GID: 99})) {
				if err := harness.CheckOwner(s.fx.Path(rel), p9.UID(4321), p9.GID(99)); err != nil {
					e.Add("%v", err)
				}
			}
			return e.Err()
		})
	}
	s.Check("SetAttr: size of a directory -> EINVAL; permissions or size of a symlink -> EBADF (the reference holds an O_PATH FD), target unchanged", func() error {
		var e harness.Errs
		if err := os.Mkdir(s.fx.Path("scratch/sizedir"), 0o755); err != nil {
			return err
		}
		rel, err := s.scratchFile("symtarget", []byte("target"), 0o644)
		if err != nil {
			return err
		}
		if err := os.Symlink("symtarget", s.fx.Path("scratch/sym2")); err != nil {
			return err
		}
		d, err := s.walk("scratch/sizedir")
		if err != nil {
			return err
		}
		defer d.Close()
		e.Want("SetAttr(Size) of a dir", d.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{Size: 0}), unix.EINVAL)
		l, err := s.walk("scratch/sym2")
		if err != nil {
			return err
		}
		defer l.Close()
		e.Want("SetAttr(Permissions) of a symlink", l.SetAttr(p9.SetAttrMask{Permissions: true}, p9.SetAttr{Permissions: 0o600}), unix.EBADF)
		e.Want("SetAttr(Size) of a symlink", l.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{Size: 1}), unix.EBADF)
		if err := harness.CheckMode(s.fx.Path(rel), unix.S_IFREG|0o644); err != nil {
			e.Add("%v", err)
		}
		if got := string(harness.ReadHostFile(s.fx.Path(rel))); got != "target" {
			e.Add("target content %q", got)
		}
		return e.Err()
	})
	s.Check("SetAttr: empty mask -> success, no change; CTime (not settable) -> EPERM before any change", func() error {
		rel, err := s.scratchFile("ctime.txt", []byte("0123"), 0o644)
		if err != nil {
			return err
		}
		f, err := s.walk(rel)
		if err != nil {
			return err
		}
		defer f.Close()
		var e harness.Errs
		before, _ := hostStat(s.fx.Path(rel))
		e.OK("SetAttr(empty)", f.SetAttr(p9.SetAttrMask{}, p9.SetAttr{}))
		err = f.SetAttr(p9.SetAttrMask{CTime: true, Size: true}, p9.SetAttr{Size: 1})
		after, _ := hostStat(s.fx.Path(rel))
		if s.version() == 0 && err == nil {
			// A standard 9P2000.L client (Linux) sets CTime with every
			// change; a server may ignore it and apply the rest.
			s.Info("plain 9P2000.L: SetAttr's CTime bit is ignored (the reference answers EPERM)")
			if after.Size != 1 {
				e.Add("SetAttr(CTime|Size) succeeded but host size is %d, want 1", after.Size)
			}
		} else {
			e.Want("SetAttr(CTime|Size)", err, unix.EPERM)
			if before.Size != after.Size || before.Ctim != after.Ctim {
				e.Add("host changed: size %d -> %d", before.Size, after.Size)
			}
		}
		return e.Err()
	})
}

func (s *Suite) checkLinkUnlink() {
	s.Check("Link (Tlink): hard link shares the inode; existing -> EEXIST; directory -> EPERM", func() error {
		rel, err := s.scratchFile("lsrc", []byte("linked"), 0o644)
		if err != nil {
			return err
		}
		t, err := s.walk(rel)
		if err != nil {
			return err
		}
		defer t.Close()
		var e harness.Errs
		err = s.withDir("scratch", func(dir p9.File) error {
			if e.OK("Link", dir.Link(t, "ldst")) {
				a, _ := hostStat(s.fx.Path(rel))
				b, err := hostStat(s.fx.Path("scratch/ldst"))
				if err != nil || a.Ino != b.Ino || a.Nlink != 2 {
					e.Add("host: ino %d vs %d, nlink %d, %v", a.Ino, b.Ino, a.Nlink, err)
				}
			}
			e.Want("Link existing", dir.Link(t, "ldst"), unix.EEXIST)
			d, err := s.walk("d1")
			if err != nil {
				return err
			}
			defer d.Close()
			e.Want("Link a directory", dir.Link(d, "ldir"), unix.EPERM)
			// A symlink's fid links the symlink itself, not its target.
			l, err := s.walk("link")
			if err != nil {
				return err
			}
			defer l.Close()
			if e.OK("Link a symlink", dir.Link(l, "lsym")) {
				st, err := hostStat(s.fx.Path("scratch/lsym"))
				orig, _ := hostStat(s.fx.Path("link"))
				if err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK || st.Ino != orig.Ino || st.Nlink != 2 {
					e.Add("host scratch/lsym: mode %#o ino %d (link %d) nlink %d, %v; want the symlink itself", st.Mode, st.Ino, orig.Ino, st.Nlink, err)
				}
				os.Remove(s.fx.Path("scratch/lsym"))
			}
			return nil
		})
		if err != nil {
			return err
		}
		return e.Err()
	})
	s.Check("UnlinkAt: file; dir with AT_REMOVEDIR; errors EISDIR/ENOTDIR/ENOTEMPTY/ENOENT", func() error {
		var e harness.Errs
		if _, err := s.scratchFile("u1", []byte("x"), 0o644); err != nil {
			return err
		}
		if err := os.MkdirAll(s.fx.Path("scratch/ud/sub"), 0o755); err != nil {
			return err
		}
		if err := os.Mkdir(s.fx.Path("scratch/ue"), 0o755); err != nil {
			return err
		}
		err := s.withDir("scratch", func(dir p9.File) error {
			e.Want("UnlinkAt(dir, 0)", dir.UnlinkAt("ue", 0), unix.EISDIR)
			e.Want("UnlinkAt(file, AT_REMOVEDIR)", dir.UnlinkAt("u1", unix.AT_REMOVEDIR), unix.ENOTDIR)
			e.Want("UnlinkAt(non-empty dir)", dir.UnlinkAt("ud", unix.AT_REMOVEDIR), unix.ENOTEMPTY, unix.EEXIST)
			e.Want("UnlinkAt(missing)", dir.UnlinkAt("nope", 0), unix.ENOENT)
			if e.OK("UnlinkAt(file)", dir.UnlinkAt("u1", 0)) {
				if err := harness.HostAbsent(s.fx.Path("scratch/u1")); err != nil {
					e.Add("%v", err)
				}
			}
			if e.OK("UnlinkAt(empty dir, AT_REMOVEDIR)", dir.UnlinkAt("ue", unix.AT_REMOVEDIR)) {
				if err := harness.HostAbsent(s.fx.Path("scratch/ue")); err != nil {
					e.Add("%v", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		return e.Err()
	})
	s.Check("fids of unlinked files: GetAttr works (nlink 0), opened file still reads and writes; Open/SetAttr/Allocate/Readlink/Create/Walk refused", func() error {
		var e harness.Errs
		if _, err := s.scratchFile("del.txt", []byte("deleted data"), 0o644); err != nil {
			return err
		}
		if _, err := s.scratchFile("del2.txt", []byte("x"), 0o644); err != nil {
			return err
		}
		if err := os.Symlink("x", s.fx.Path("scratch/del.lnk")); err != nil {
			return err
		}
		if err := os.Mkdir(s.fx.Path("scratch/deldir"), 0o755); err != nil {
			return err
		}
		o, err := s.open("scratch/del.txt", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		f2, err := s.walk("scratch/del2.txt")
		if err != nil {
			return err
		}
		defer f2.Close()
		if _, err := s.scratchFile("del3.txt", []byte("x"), 0o644); err != nil {
			return err
		}
		rw, err := s.open("scratch/del3.txt", p9.ReadWrite)
		if err != nil {
			return err
		}
		defer rw.close()
		l, err := s.walk("scratch/del.lnk")
		if err != nil {
			return err
		}
		defer l.Close()
		d, err := s.walk("scratch/deldir")
		if err != nil {
			return err
		}
		defer d.Close()
		err = s.withDir("scratch", func(dir p9.File) error {
			for _, n := range []string{"del.txt", "del2.txt", "del3.txt", "del.lnk"} {
				e.OK("UnlinkAt "+n, dir.UnlinkAt(n, 0))
			}
			e.OK("UnlinkAt deldir", dir.UnlinkAt("deldir", unix.AT_REMOVEDIR))
			return nil
		})
		if err != nil {
			return err
		}
		_, _, attr, err := f2.GetAttr(p9.AttrMaskAll())
		if e.OK("GetAttr(deleted)", err) && attr.NLink != 0 {
			e.Add("GetAttr(deleted): nlink %d", attr.NLink)
		}
		if b, err := readFull(o.f, 0, 100); err != nil || string(b) != "deleted data" {
			e.Add("ReadAt(opened, deleted): %q, %s", b, harness.ErrName(err))
		}
		_, _, _, err = f2.Open(p9.ReadOnly)
		e.Want("Open(deleted)", err, unix.EINVAL)
		e.Want("SetAttr(deleted)", f2.SetAttr(p9.SetAttrMask{Permissions: true}, p9.SetAttr{Permissions: 0o600}), unix.EINVAL)
		if rw != nil {
			if n, err := rw.f.WriteAt([]byte("still"), 0); err != nil || n != 5 {
				e.Add("WriteAt(opened, deleted): %d, %s", n, harness.ErrName(err))
			}
			if s.version() >= 7 {
				e.Want("Allocate(opened, deleted)", rw.f.Allocate(p9.AllocateMode{}, 0, 100), unix.EINVAL)
			}
		}
		_, err = l.Readlink()
		e.Want("Readlink(deleted symlink)", err, unix.EINVAL)
		uid, gid := s.ownerIDs()
		_, _, _, _, err = d.Create("x", p9.ReadWrite, 0o644, uid, gid)
		e.Want("Create in deleted dir", err, unix.EINVAL)
		_, err = d.Mkdir("x", 0o755, uid, gid)
		e.Want("Mkdir in deleted dir", err, unix.EINVAL)
		_, f, err := d.Walk([]string{"x"})
		if f != nil {
			f.Close()
		}
		e.Want("Walk from deleted dir", err, unix.ENOENT)
		return e.Err()
	})
}

// remover is the deprecated Tremove, which the p9 client still offers.
type remover interface{ Remove() error }

func (s *Suite) checkRemove() {
	s.Check("Remove (Tremove): removes the fid's file and clunks the fid; the root -> EINVAL", func() error {
		var e harness.Errs
		if _, err := s.scratchFile("rm.txt", []byte("x"), 0o644); err != nil {
			return err
		}
		f, err := s.walk("scratch/rm.txt")
		if err != nil {
			return err
		}
		r, ok := f.(remover)
		if !ok {
			return fmt.Errorf("client file has no Remove")
		}
		if e.OK("Remove", r.Remove()) {
			if err := harness.HostAbsent(s.fx.Path("scratch/rm.txt")); err != nil {
				e.Add("%v", err)
			}
		}
		// On a directory the reference's unlinkat(name, 0) answers EISDIR;
		// removing it (9P's meaning) is a documented difference.
		if err := os.Mkdir(s.fx.Path("scratch/rmdir"), 0o755); err != nil {
			return err
		}
		d, err := s.walk("scratch/rmdir")
		if err != nil {
			return err
		}
		if err := d.(remover).Remove(); err == nil {
			if harness.HostExists(s.fx.Path("scratch/rmdir")) {
				e.Add("Remove(dir) succeeded but the directory is still there")
			} else {
				s.Info("Remove of a directory removed it (the reference answers EISDIR)")
			}
		} else {
			e.Want("Remove(dir)", err, unix.EISDIR)
		}
		_, root, err := s.root.Walk(nil)
		if err != nil {
			return harness.Wrap("clone root", err)
		}
		e.Want("Remove(root clone)", root.(remover).Remove(), unix.EINVAL)
		if !harness.HostExists(s.fx.Root) {
			e.Add("mount root removed")
		}
		return e.Err()
	})
}

// checkHostSwap: the host replaces a directory the client holds a fid for
// with a symlink to /. The reference keeps an FD per fid, so walks from the
// fid stay in the (moved) original directory; they must never reach the
// host's /.
func (s *Suite) checkHostSwap() {
	s.Check("host swaps a walked directory for a symlink to /: walks from the fid never escape", func() error {
		base := s.fx.Path("scratch/victim")
		if err := os.MkdirAll(base, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(base, "inside"), []byte("in"), 0o644); err != nil {
			return err
		}
		d, err := s.walk("scratch/victim")
		if err != nil {
			return err
		}
		defer d.Close()
		if err := os.Rename(base, base+"-moved"); err != nil {
			return err
		}
		if err := os.Symlink("/", base); err != nil {
			return err
		}
		defer func() {
			os.Remove(base)
			os.Rename(base+"-moved", base)
		}()
		var e harness.Errs
		for _, name := range []string{"etc", "proc", "usr"} {
			_, f, err := d.Walk([]string{name})
			if err == nil {
				f.Close()
				e.Add("SECURITY: Walk(%q) from the fid succeeded: the gofer followed the host's symlink to /", name)
			}
		}
		uid, gid := s.ownerIDs()
		_, c, err := d.Walk(nil)
		if err == nil {
			host, _, _, _, err := c.Create("escaped", p9.ReadWrite, 0o644, uid, gid)
			if err == nil {
				if host != nil {
					host.Close()
				}
				c.Close()
				if harness.HostExists("/escaped") {
					os.Remove("/escaped")
					e.Add("SECURITY: Create from the fid created /escaped on the host")
				}
			} else {
				c.Close()
			}
		}
		os.Remove(base + "-moved/escaped")
		// The reference (fd per fid) still finds the moved directory's file.
		_, f, err := d.Walk([]string{"inside"})
		if err != nil {
			s.Info("Walk(inside) from the swapped fid: %s (the reference, holding an FD, finds the moved directory's file)", harness.ErrName(err))
		} else {
			f.Close()
		}
		return e.Err()
	})
}

func (s *Suite) checkRename() {
	s.Check("RenameAt: moves a file; replaces an existing file; missing -> ENOENT; dir into itself -> EINVAL; over non-empty dir -> ENOTEMPTY", func() error {
		var e harness.Errs
		if _, err := s.scratchFile("r1", []byte("r1 data"), 0o644); err != nil {
			return err
		}
		if _, err := s.scratchFile("r2", []byte("r2 data"), 0o644); err != nil {
			return err
		}
		for _, d := range []string{"scratch/rdA/x", "scratch/rdB/y", "scratch/rsub"} {
			if err := os.MkdirAll(s.fx.Path(d), 0o755); err != nil {
				return err
			}
		}
		err := s.withDir("scratch", func(dir p9.File) error {
			sub, err := s.walk("scratch/rsub")
			if err != nil {
				return err
			}
			defer sub.Close()
			if e.OK("RenameAt(r1 -> rsub/moved)", dir.RenameAt("r1", sub, "moved")) {
				if got := string(harness.ReadHostFile(s.fx.Path("scratch/rsub/moved"))); got != "r1 data" {
					e.Add("host rsub/moved = %q", got)
				}
				if err := harness.HostAbsent(s.fx.Path("scratch/r1")); err != nil {
					e.Add("%v", err)
				}
			}
			if e.OK("RenameAt(r2 -> rsub/moved) over a file", dir.RenameAt("r2", sub, "moved")) {
				if got := string(harness.ReadHostFile(s.fx.Path("scratch/rsub/moved"))); got != "r2 data" {
					e.Add("host rsub/moved = %q after replace", got)
				}
			}
			e.Want("RenameAt(missing)", dir.RenameAt("nope", sub, "x"), unix.ENOENT)
			a, err := s.walk("scratch/rdA")
			if err != nil {
				return err
			}
			defer a.Close()
			e.Want("RenameAt(rdA -> rdA/x/in)", dir.RenameAt("rdA", a, "in"), unix.EINVAL)
			e.Want("RenameAt(rdA -> rdB) non-empty", dir.RenameAt("rdA", dir, "rdB"), unix.ENOTEMPTY, unix.EEXIST)
			return nil
		})
		if err != nil {
			return err
		}
		return e.Err()
	})
	s.Check("RenameAt over a file another fid holds: that fid now refers to a deleted file (Open -> EINVAL, nlink 0)", func() error {
		var e harness.Errs
		if _, err := s.scratchFile("over-src", []byte("src"), 0o644); err != nil {
			return err
		}
		if _, err := s.scratchFile("over-dst", []byte("dst"), 0o644); err != nil {
			return err
		}
		victim, err := s.walk("scratch/over-dst")
		if err != nil {
			return err
		}
		defer victim.Close()
		src, err := s.walk("scratch/over-src")
		if err != nil {
			return err
		}
		defer src.Close()
		err = s.withDir("scratch", func(dir p9.File) error {
			e.OK("RenameAt(over-src -> over-dst)", dir.RenameAt("over-src", dir, "over-dst"))
			return nil
		})
		if err != nil {
			return err
		}
		_, _, attr, err := victim.GetAttr(p9.AttrMaskAll())
		if e.OK("GetAttr(replaced)", err) && attr.NLink != 0 {
			e.Add("replaced file's nlink %d", attr.NLink)
		}
		_, _, _, err = victim.Open(p9.ReadOnly)
		e.Want("Open(replaced)", err, unix.EINVAL)
		host, _, _, err := src.Open(p9.ReadOnly)
		if e.OK("Open(renamed)", err) {
			if host != nil {
				host.Close()
			}
			if b, err := readFull(src, 0, 10); err != nil || string(b) != "src" {
				e.Add("ReadAt(renamed): %q, %s", b, harness.ErrName(err))
			}
		}
		return e.Err()
	})
	s.Check("Rename (Trename): moves the fid's file; the fid keeps working at the new place", func() error {
		var e harness.Errs
		if _, err := s.scratchFile("tr.txt", []byte("trename"), 0o644); err != nil {
			return err
		}
		if err := os.Mkdir(s.fx.Path("scratch/trdir"), 0o755); err != nil {
			return err
		}
		f, err := s.walk("scratch/tr.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		d, err := s.walk("scratch/trdir")
		if err != nil {
			return err
		}
		defer d.Close()
		if !e.OK("Rename", f.Rename(d, "renamed.txt")) {
			return e.Err()
		}
		p := s.fx.Path("scratch/trdir/renamed.txt")
		if got := string(harness.ReadHostFile(p)); got != "trename" {
			e.Add("host %s = %q", p, got)
		}
		if err := harness.HostAbsent(s.fx.Path("scratch/tr.txt")); err != nil {
			e.Add("%v", err)
		}
		_, valid, attr, err := f.GetAttr(p9.AttrMaskAll())
		if e.OK("GetAttr after Rename", err) {
			if err := compareAttr("renamed", valid, attr, p); err != nil {
				e.Add("%v", err)
			}
		}
		// Same place: short-circuit.
		e.OK("Rename to its own name", f.Rename(d, "renamed.txt"))
		if e.OK("SetAttr(times) after Rename", f.SetAttr(p9.SetAttrMask{MTime: true, MTimeNotSystemTime: true}, p9.SetAttr{MTimeSeconds: 1_234_567_890})) {
			if st, _ := hostStat(p); st.Mtim.Sec != 1_234_567_890 {
				e.Add("host mtime %d", st.Mtim.Sec)
			}
		}
		host, _, _, err := f.Open(p9.ReadWrite)
		if e.OK("Open after Rename", err) {
			if host != nil {
				host.Close()
			}
			if b, err := readFull(f, 0, 100); err != nil || string(b) != "trename" {
				e.Add("ReadAt after Rename: %q, %s", b, harness.ErrName(err))
			}
		}
		return e.Err()
	})
	s.Check("fids below a renamed directory keep working (GetAttr, Open, Walk, Create, Mkdir, symlink times, Readdir), twice", func() error {
		var e harness.Errs
		if err := os.MkdirAll(s.fx.Path("scratch/rd/sub"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(s.fx.Path("scratch/rd/sub/f"), []byte("below"), 0o644); err != nil {
			return err
		}
		if err := os.Symlink("f", s.fx.Path("scratch/rd/sub/sl")); err != nil {
			return err
		}
		rd, err := s.walk("scratch/rd")
		if err != nil {
			return err
		}
		defer rd.Close()
		sub, err := s.walk("scratch/rd/sub")
		if err != nil {
			return err
		}
		defer sub.Close()
		f, err := s.walk("scratch/rd/sub/f")
		if err != nil {
			return err
		}
		defer f.Close()
		sl, err := s.walk("scratch/rd/sub/sl")
		if err != nil {
			return err
		}
		defer sl.Close()
		scratch, err := s.walk("scratch")
		if err != nil {
			return err
		}
		defer scratch.Close()
		uid, gid := s.ownerIDs()

		probe := func(stage, subPath string) {
			fp := s.fx.Path(subPath, "f")
			_, valid, attr, err := f.GetAttr(p9.AttrMaskAll())
			if e.OK(stage+": GetAttr(f)", err) {
				if err := compareAttr(stage+": f", valid, attr, fp); err != nil {
					e.Add("%v", err)
				}
			}
			_, c, err := f.Walk(nil)
			if e.OK(stage+": clone f", err) {
				host, _, _, err := c.Open(p9.ReadOnly)
				if e.OK(stage+": Open(f)", err) {
					if host != nil {
						host.Close()
					}
					if b, err := readFull(c, 0, 100); err != nil || string(b) != "below" {
						e.Add("%s: ReadAt(f) %q, %s", stage, b, harness.ErrName(err))
					}
				}
				c.Close()
			}
			_, w, err := sub.Walk([]string{"f"})
			if e.OK(stage+": Walk(sub/f)", err) {
				w.Close()
			}
			name := "new-" + stage
			_, c2, err := sub.Walk(nil)
			if e.OK(stage+": clone sub", err) {
				host, _, _, _, err := c2.Create(name, p9.ReadWrite, 0o644, uid, gid)
				if e.OK(stage+": Create in sub", err) {
					if host != nil {
						host.Close()
					}
					if !harness.HostExists(s.fx.Path(subPath, name)) {
						e.Add("%s: created file not at %s", stage, s.fx.Path(subPath, name))
					}
				}
				c2.Close()
			}
			if _, err := sub.Mkdir("dir-"+stage, 0o755, uid, gid); e.OK(stage+": Mkdir in sub", err) {
				if !harness.HostExists(s.fx.Path(subPath, "dir-"+stage)) {
					e.Add("%s: mkdir not at %s", stage, subPath)
				}
			}
			// The reference opens the symlink's parent by path for
			// utimensat (fsgofer.go SetAttr), so the path must follow.
			if e.OK(stage+": SetAttr(symlink times)", sl.SetAttr(p9.SetAttrMask{MTime: true, MTimeNotSystemTime: true}, p9.SetAttr{MTimeSeconds: 1_300_000_000})) {
				if st, err := hostStat(s.fx.Path(subPath, "sl")); err != nil || st.Mtim.Sec != 1_300_000_000 {
					e.Add("%s: host sl mtime %d, %v", stage, st.Mtim.Sec, err)
				}
			}
		}
		probe("before", "scratch/rd/sub")
		if !e.OK("RenameAt(rd -> rd2)", scratch.RenameAt("rd", scratch, "rd2")) {
			return e.Err()
		}
		probe("after-renameat", "scratch/rd2/sub")
		o, err := s.walk("scratch/rd2")
		if err == nil {
			o.Close()
		}
		_, rdc, err := rd.Walk(nil)
		if e.OK("clone rd", err) {
			if _, _, _, err := rdc.Open(p9.ReadOnly); e.OK("Open(rd)", err) {
				ds, err := rdc.Readdir(0, 4096)
				if err != nil || len(ds) != 1 || ds[0].Name != "sub" {
					e.Add("Readdir(rd after rename): %v, %s", ds, harness.ErrName(err))
				}
			}
			rdc.Close()
		}
		if !e.OK("Rename(sub -> scratch/sub-moved)", sub.Rename(scratch, "sub-moved")) {
			return e.Err()
		}
		probe("after-rename", "scratch/sub-moved")
		if err := harness.HostAbsent(s.fx.Path("scratch/rd2/sub")); err != nil {
			e.Add("%v", err)
		}
		return e.Err()
	})
}

// checkEROFS: every mutation on a read-only mount (fsgofer.go
// checkROMount, which runs after the handler's own checks).
func (s *Suite) checkEROFS() {
	uid, gid := s.ownerIDs()
	s.Check("ro: Create/Mkdir/Symlink/Mknod/Link/RenameAt/Rename/UnlinkAt -> EROFS", func() error {
		var e harness.Errs
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		d1, err := s.walk("d1")
		if err != nil {
			return err
		}
		defer d1.Close()
		err = s.withDir("scratch", func(dir p9.File) error {
			_, _, _, _, err := dir.Create("n", p9.ReadWrite, 0o644, uid, gid)
			e.Want("Create", err, unix.EROFS)
			_, _, _, _, err = dir.Create("n", p9.ReadOnly, 0o644, uid, gid)
			e.Want("Create ReadOnly", err, unix.EROFS)
			_, err = dir.Mkdir("n", 0o755, uid, gid)
			e.Want("Mkdir", err, unix.EROFS)
			_, err = dir.Symlink("t", "n", uid, gid)
			e.Want("Symlink", err, unix.EROFS)
			_, err = dir.Mknod("n", p9.ModeRegular|0o644, 0, 0, uid, gid)
			e.Want("Mknod regular", err, unix.EROFS)
			_, err = dir.Mknod("n", p9.ModeNamedPipe|0o644, 0, 0, uid, gid)
			e.Want("Mknod FIFO", err, unix.EROFS)
			e.Want("Link", dir.Link(f, "n"), unix.EROFS)
			e.Want("RenameAt", s.root.RenameAt("a.txt", dir, "n"), unix.EROFS)
			e.Want("RenameAt missing", s.root.RenameAt("nope", dir, "n"), unix.EROFS)
			e.Want("Rename", f.Rename(dir, "n"), unix.EROFS)
			e.Want("Rename dir", d1.Rename(dir, "n"), unix.EROFS)
			e.Want("UnlinkAt file", s.root.UnlinkAt("a.txt", 0), unix.EROFS)
			e.Want("UnlinkAt dir", s.root.UnlinkAt("empty", unix.AT_REMOVEDIR), unix.EROFS)
			e.Want("UnlinkAt missing", s.root.UnlinkAt("nope", 0), unix.EROFS)
			_, err = dir.Mkdir("n", 0o755, uid, gid)
			e.Want("Mkdir", err, unix.EROFS)
			return nil
		})
		if err != nil {
			return err
		}
		return e.Err()
	})
	s.Check("ro: Open WriteOnly/ReadWrite/ReadOnly|OpenTruncate -> EROFS; ReadOnly works", func() error {
		var e harness.Errs
		for _, fl := range []p9.OpenFlags{p9.WriteOnly, p9.ReadWrite, p9.ReadOnly | p9.OpenTruncate, p9.ReadWrite | p9.OpenTruncate} {
			f, err := s.walk("a.txt")
			if err != nil {
				return err
			}
			_, _, _, err = f.Open(fl)
			e.Want(fmt.Sprintf("Open(%v)", fl), err, unix.EROFS)
			// The failed open leaves the fid unopened.
			host, _, _, err := f.Open(p9.ReadOnly)
			if e.OK("Open(ReadOnly) after a refused open", err) && host != nil {
				host.Close()
			}
			f.Close()
		}
		return e.Err()
	})
	s.Check("ro: SetAttr (any mask, even empty) and SetAttrClose -> EROFS", func() error {
		var e harness.Errs
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		for _, m := range []p9.SetAttrMask{{Permissions: true}, {Size: true}, {UID: true, GID: true},
			{ATime: true, MTime: true}, {ATime: true, ATimeNotSystemTime: true}, {}, {CTime: true}} {
			e.Want(fmt.Sprintf("SetAttr(%v)", m), f.SetAttr(m, p9.SetAttr{Permissions: 0o600, UID: 1, GID: 1}), unix.EROFS)
		}
		d, err := s.walk("d1")
		if err != nil {
			return err
		}
		defer d.Close()
		e.Want("SetAttr(dir)", d.SetAttr(p9.SetAttrMask{Permissions: true}, p9.SetAttr{Permissions: 0o700}), unix.EROFS)
		g, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		e.Want("SetAttrClose", g.SetAttrClose(p9.SetAttrMask{Size: true}, p9.SetAttr{}), unix.EROFS)
		return e.Err()
	})
}

func (s *Suite) checkRemoveEROFS() {
	s.Check("ro: Remove (Tremove) -> EROFS, the fid is clunked anyway", func() error {
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		return harness.WantErrno(f.(remover).Remove(), unix.EROFS)
	})
}
