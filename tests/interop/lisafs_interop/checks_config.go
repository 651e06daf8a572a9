package main

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/lisafs"

	"gofer/tests/interop/harness"
)

// runReadWrite is the main configuration: every RPC on a writable mount.
func (s *Suite) runReadWrite() {
	s.checkReads()
	s.checkSetStat()
	s.checkCreate()
	s.checkWrite()
	s.checkUnlinkRename()
	s.checkBadNames(unix.EINVAL)
	s.checkQuirks()
	s.checkXattrDefault()
	s.checkConnect()
	s.checkBind()
	s.checkEBADF()
	s.checkCloseFDs()
	s.checkAllocateMode()
}

// runReadOnly: reads work, every mutation fails with EROFS, and the host tree
// is unchanged afterwards (checked by runConfig).
func (s *Suite) runReadOnly() {
	s.checkReads()
	s.checkEROFS()
	s.checkBadNames(unix.EROFS)
	s.checkBind()
}

// runDonate: the mount point FD is donated on Mount and on OpenAt of the
// root. The reference only serves this mode (its --directfs) with a reduced
// seccomp filter meant for a sentry that does most syscalls itself: e.g.
// getdents64, readlinkat or ftruncate kill it with SIGSYS. So only the RPCs
// a directfs sentry makes are checked here.
func (s *Suite) runDonate() {
	s.checkStat()
	s.checkWalk()
	s.checkOpenRead()
}

func (s *Suite) runUDSOpen() {
	s.checkConnect()
	s.checkBind()
	s.checkOpenSocket()
}

func (s *Suite) runUDSCreate() {
	s.checkBind()
	s.checkConnect()
}

// runXattrUser: our --xattr-user extension (the reference has no such flag
// and refuses every xattr mutation).
func (s *Suite) runXattrUser() {
	s.checkGetXattr()
	if s.isRef() {
		s.checkXattrDefault()
		return
	}
	s.checkXattrUser()
}

// checkXattrDefault: what a gofer does with xattrs by default. 20240729's
// refuses every mutation and listing; today's runsc gofer passes them all to
// the host. Ours, in its native form, keeps them behind --xattr-user
// (docs/lisafs-today.md), whichever the client.
func (s *Suite) checkXattrDefault() {
	if today && s.isRef() {
		s.checkXattrToday()
		return
	}
	s.checkXattrRefused()
}

// checkXattrToday: today's reference gofer sets, gets, lists and removes
// xattrs of any namespace the host allows.
func (s *Suite) checkXattrToday() {
	s.Check("xattrs (today's gofer): SetXattr/GetXattr/ListXattr/RemoveXattr reach the host", func() error {
		p, err := s.hostFile("xt.txt", []byte("x"), 0o644)
		if err != nil {
			return err
		}
		file, _, err := s.walk("scratch/xt.txt")
		if err != nil {
			return err
		}
		defer s.closeFDs(file)
		var e harness.Errs
		names := []string{"user.t"}
		if s.fx.IsRoot {
			names = append(names, "trusted.t")
		}
		for _, name := range names {
			if !e.OK("SetXattr("+name+")", file.SetXattr(ctx, name, "v-"+name, 0)) {
				continue
			}
			buf := make([]byte, 64)
			if n, err := unix.Lgetxattr(p, name, buf); err != nil || string(buf[:n]) != "v-"+name {
				e.Add("host %s = %q (%v)", name, buf[:max(n, 0)], err)
			}
			if v, err := file.GetXattr(ctx, name, 64); err != nil || v != "v-"+name {
				e.Add("GetXattr(%s) = %q, %s", name, v, harness.ErrName(err))
			}
		}
		if got, err := file.ListXattr(ctx, 4096); e.OK("ListXattr", err) {
			for _, name := range names {
				if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+name+" ") {
					e.Add("ListXattr = %v, missing %s", got, name)
				}
			}
		}
		for _, name := range names {
			e.OK("RemoveXattr("+name+")", file.RemoveXattr(ctx, name))
		}
		if d := harness.XattrDesc(p); strings.Contains(d, "user.t") || strings.Contains(d, "trusted.t") {
			e.Add("host xattrs left: %s", d)
		}
		return e.Err()
	})
}

// checkEROFS tries every mutation on a read-only mount.
func (s *Suite) checkEROFS() {
	uid, gid := s.ownerIDs()
	s.Check("ro: every mutating RPC -> EROFS", func() error {
		file, _, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer s.closeFDs(file)
		r, err := s.open("a.txt", unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer r.close()
		return s.withScratch(func(dir lisafs.ClientFD) error {
			var e harness.Errs
			try := func(op string, err error) {
				if harness.WantErrno(err, unix.EROFS) != nil {
					e.Add("%s: %v", op, harness.WantErrno(err, unix.EROFS))
				}
			}
			_, _, err := file.SetStat(ctx, &linux.Statx{Mask: unix.STATX_MODE, Mode: 0o600})
			try("SetStat(mode)", err)
			_, _, err = file.SetStat(ctx, &linux.Statx{Mask: unix.STATX_ATIME | unix.STATX_MTIME, Atime: testAtime, Mtime: testMtime})
			try("SetStat(times)", err)
			for _, fl := range []uint32{unix.O_WRONLY, unix.O_RDWR, unix.O_RDONLY | unix.O_TRUNC, unix.O_WRONLY | unix.O_TRUNC} {
				_, fd, err := file.OpenAt(ctx, fl)
				closeHostFD(fd)
				try(fmt.Sprintf("OpenAt(%#x)", fl), err)
			}
			_, _, fd, err := dir.OpenCreateAt(ctx, "new", unix.O_RDWR, 0o644, uid, gid)
			closeHostFD(fd)
			try("OpenCreateAt", err)
			_, err = r.ofd.Write(ctx, []byte("x"), 0)
			try("PWrite", err)
			try("Allocate", r.ofd.Allocate(ctx, 0, 0, 4096))
			_, err = dir.MkdirAt(ctx, "new", 0o755, uid, gid)
			try("MkdirAt", err)
			_, err = dir.MknodAt(ctx, "new", unix.S_IFREG|0o644, uid, gid, 0, 0)
			try("MknodAt", err)
			_, err = dir.SymlinkAt(ctx, "new", "a.txt", uid, gid)
			try("SymlinkAt", err)
			_, err = dir.LinkAt(ctx, file.ID(), "new")
			try("LinkAt", err)
			try("UnlinkAt(file)", s.root().UnlinkAt(ctx, "a.txt", 0))
			try("UnlinkAt(dir)", s.root().UnlinkAt(ctx, "empty", unix.AT_REMOVEDIR))
			try("RenameAt", renameAt(s.root(), "a.txt", s.g.Root.ControlFD, "b.txt"))
			try("SetXattr", file.SetXattr(ctx, "user.greeting", "changed", 0))
			if s.g.Client.IsSupported(lisafs.FRemoveXattr) {
				try("RemoveXattr", file.RemoveXattr(ctx, "user.greeting"))
			}
			try("unknown FD SetStat", func() error {
				_, _, err := s.fd(badFDID).SetStat(ctx, &linux.Statx{Mask: unix.STATX_MODE})
				return err
			}())
			return e.Err()
		})
	})
	s.Check("ro: Sync and Flush of a read-only FD still succeed", func() error {
		r, err := s.open("a.txt", unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer r.close()
		if err := r.ofd.Sync(ctx); err != nil {
			return harness.Wrap("Sync", err)
		}
		return harness.Wrap("Flush", r.ofd.Flush(ctx))
	})
}

// checkXattrRefused: without --xattr-user (and always for the reference)
// xattr mutation and listing are refused with EOPNOTSUPP.
func (s *Suite) checkXattrRefused() {
	s.Check("SetXattr/ListXattr/RemoveXattr refused with EOPNOTSUPP, host xattrs unchanged", func() error {
		file, _, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer s.closeFDs(file)
		before := harness.XattrDesc(s.fx.Path("a.txt"))
		var e harness.Errs
		for _, name := range []string{"user.greeting", "user.new", "trusted.new"} {
			if err := file.SetXattr(ctx, name, "v", 0); harness.WantErrno(err, unix.EOPNOTSUPP) != nil {
				e.Add("SetXattr(%s): %v", name, harness.WantErrno(err, unix.EOPNOTSUPP))
			}
			if err := file.RemoveXattr(ctx, name); harness.WantErrno(err, unix.EOPNOTSUPP) != nil {
				e.Add("RemoveXattr(%s): %v", name, harness.WantErrno(err, unix.EOPNOTSUPP))
			}
		}
		if _, err := file.ListXattr(ctx, 4096); harness.WantErrno(err, unix.EOPNOTSUPP) != nil {
			e.Add("ListXattr: %v", harness.WantErrno(err, unix.EOPNOTSUPP))
		}
		if after := harness.XattrDesc(s.fx.Path("a.txt")); after != before {
			e.Add("host xattrs changed: %s -> %s", before, after)
		}
		return e.Err()
	})
}

// checkXattrUser: our extension allows user.* only.
func (s *Suite) checkXattrUser() {
	s.Check("xattr-user: SetXattr/GetXattr/ListXattr/RemoveXattr of user.* reach the host", func() error {
		if !s.fx.UserXattrs {
			return fmt.Errorf("host filesystem does not support user.* xattrs; cannot test")
		}
		file, _, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer s.closeFDs(file)
		p := s.fx.Path("a.txt")
		var e harness.Errs
		if err := file.SetXattr(ctx, "user.new", "v1", 0); err != nil {
			return harness.Wrap("SetXattr(user.new)", err)
		}
		buf := make([]byte, 64)
		if n, err := unix.Lgetxattr(p, "user.new", buf); err != nil || string(buf[:n]) != "v1" {
			e.Add("host user.new = %q, %v", buf[:n], err)
		}
		if v, err := file.GetXattr(ctx, "user.new", 64); err != nil || v != "v1" {
			e.Add("GetXattr(user.new) = %q, %s", v, harness.ErrName(err))
		}
		if err := file.SetXattr(ctx, "user.new", "v2", unix.XATTR_CREATE); harness.WantErrno(err, unix.EEXIST) != nil {
			e.Add("XATTR_CREATE on existing: %v", harness.WantErrno(err, unix.EEXIST))
		}
		if err := file.SetXattr(ctx, "user.absent", "v", unix.XATTR_REPLACE); harness.WantErrno(err, unix.ENODATA) != nil {
			e.Add("XATTR_REPLACE on missing: %v", harness.WantErrno(err, unix.ENODATA))
		}
		names, err := file.ListXattr(ctx, 4096)
		if err != nil {
			e.Add("ListXattr: %s", harness.ErrName(err))
		} else {
			sort.Strings(names)
			got := map[string]bool{}
			for _, n := range names {
				got[n] = true
			}
			if !got["user.greeting"] || !got["user.new"] {
				e.Add("ListXattr = %v, missing user.greeting/user.new", names)
			}
			host := harness.XattrDesc(p)
			for _, n := range names {
				if !strings.Contains(host, n+"=") {
					e.Add("ListXattr returned %q which the host does not have", n)
				}
			}
		}
		if err := file.RemoveXattr(ctx, "user.new"); err != nil {
			e.Add("RemoveXattr(user.new): %s", harness.ErrName(err))
		} else if _, err := unix.Lgetxattr(p, "user.new", buf); err != unix.ENODATA {
			e.Add("host still has user.new (%v)", err)
		}
		if err := file.RemoveXattr(ctx, "user.new"); harness.WantErrno(err, unix.ENODATA) != nil {
			e.Add("RemoveXattr(missing): %v", harness.WantErrno(err, unix.ENODATA))
		}
		return e.Err()
	})
	s.Check("xattr-user: non-user namespaces refused with EOPNOTSUPP, host unchanged", func() error {
		file, _, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer s.closeFDs(file)
		before := harness.XattrDesc(s.fx.Path("a.txt"))
		var e harness.Errs
		for _, name := range []string{"trusted.new", "security.new", "system.posix_acl_access", "trusted.greeting"} {
			if err := file.SetXattr(ctx, name, "v", 0); harness.WantErrno(err, unix.EOPNOTSUPP) != nil {
				e.Add("SetXattr(%s): %v", name, harness.WantErrno(err, unix.EOPNOTSUPP))
			}
		}
		if err := file.RemoveXattr(ctx, "trusted.greeting"); harness.WantErrno(err, unix.EOPNOTSUPP) != nil {
			e.Add("RemoveXattr(trusted.greeting): %v", harness.WantErrno(err, unix.EOPNOTSUPP))
		}
		if after := harness.XattrDesc(s.fx.Path("a.txt")); after != before {
			e.Add("host xattrs changed: %s -> %s", before, after)
		}
		return e.Err()
	})
}
