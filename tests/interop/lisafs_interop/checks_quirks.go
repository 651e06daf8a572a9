package main

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/lisafs"
)

// checkQuirks pins down reference behaviour that is easy to get "more
// correct" by accident: a drop-in replacement must behave the same.
func (s *Suite) checkQuirks() {
	s.Check("quirk: GetXattr with size 0 returns as many bytes as the value has", func() error {
		if !s.fx.UserXattrs {
			return nil
		}
		ctl, _, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer s.closeFDs(ctl)
		v, err := ctl.GetXattr(ctx, "user.greeting", 0)
		if err != nil {
			return wrap("GetXattr(size 0)", err)
		}
		if len(v) != len("hello") {
			return fmt.Errorf("got %d bytes, want %d (the value's size)", len(v), len("hello"))
		}
		return nil
	})
	s.Check("quirk: ReadLinkAt on a symlink deleted via UnlinkAt -> empty target, no error", func() error {
		if err := os.Symlink("a.txt", s.fx.Path("scratch/qlink")); err != nil {
			return err
		}
		ctl, _, err := s.walk("scratch/qlink")
		if err != nil {
			return err
		}
		defer s.closeFDs(ctl)
		if err := s.withScratch(func(dir lisafs.ClientFD) error { return dir.UnlinkAt(ctx, "qlink", 0) }); err != nil {
			return wrap("UnlinkAt", err)
		}
		// The reference's handler checks a stale error variable, so the
		// EINVAL for the deleted node is dropped.
		t, err := ctl.ReadLinkAt(ctx)
		if err != nil || t != "" {
			return fmt.Errorf("got %q, %s; want \"\", success", t, errName(err))
		}
		return nil
	})
	s.Check("deleted file: OpenAt -> EINVAL, SetStat and StatTo still work", func() error {
		p, err := s.hostFile("qdel.txt", []byte("x"), 0o644)
		if err != nil {
			return err
		}
		ctl, _, err := s.walk("scratch/qdel.txt")
		if err != nil {
			return err
		}
		defer s.closeFDs(ctl)
		if err := s.withScratch(func(dir lisafs.ClientFD) error { return dir.UnlinkAt(ctx, "qdel.txt", 0) }); err != nil {
			return wrap("UnlinkAt", err)
		}
		var e errs
		_, fd, err := ctl.OpenAt(ctx, unix.O_RDONLY)
		closeHostFD(fd)
		if wantErrno(err, unix.EINVAL) != nil {
			e.add("OpenAt: %v", wantErrno(err, unix.EINVAL))
		}
		if err := setStat(ctl, &linux.Statx{Mask: unix.STATX_MODE, Mode: 0o600}); err != nil {
			e.add("SetStat: %v", err)
		}
		var st linux.Statx
		if err := ctl.StatTo(ctx, &st); err != nil {
			e.add("StatTo: %s", errName(err))
		} else if st.Nlink != 0 || st.Mode != unix.S_IFREG|0o600 {
			e.add("StatTo: nlink %d mode %#o, want 0 and 0100600", st.Nlink, st.Mode)
		}
		if hostExists(p) {
			e.add("%s still exists", p)
		}
		return e.err()
	})
	s.Check("names with a NUL byte -> EINVAL; 256-byte names -> ENAMETOOLONG", func() error {
		uid, gid := s.ownerIDs()
		long := strings.Repeat("n", 256)
		return s.withScratch(func(dir lisafs.ClientFD) error {
			var e errs
			if _, err := dir.MkdirAt(ctx, "a\x00b", 0o755, uid, gid); wantErrno(err, unix.EINVAL) != nil {
				e.add("MkdirAt(NUL): %v", wantErrno(err, unix.EINVAL))
			}
			if _, err := dir.Walk(ctx, "a\x00b"); wantErrno(err, unix.EINVAL) != nil {
				e.add("Walk(NUL): %v", wantErrno(err, unix.EINVAL))
			}
			if _, err := dir.MkdirAt(ctx, long, 0o755, uid, gid); wantErrno(err, unix.ENAMETOOLONG) != nil {
				e.add("MkdirAt(256 bytes): %v", wantErrno(err, unix.ENAMETOOLONG))
			}
			if _, err := dir.Walk(ctx, long); wantErrno(err, unix.ENAMETOOLONG) != nil {
				e.add("Walk(256 bytes): %v", wantErrno(err, unix.ENAMETOOLONG))
			}
			return e.err()
		})
	})
	s.Check(`WalkStat: empty path -> no stats; ["", ""] -> EINVAL; Getdents64 count 0 -> nothing`, func() error {
		var e errs
		if st, err := s.root().WalkStat(ctx, nil); err != nil || len(st) != 0 {
			e.add("WalkStat([]): %d stats, %s", len(st), errName(err))
		}
		if _, err := s.root().WalkStat(ctx, []string{"", ""}); wantErrno(err, unix.EINVAL) != nil {
			e.add(`WalkStat(["", ""]): %v`, wantErrno(err, unix.EINVAL))
		}
		o, err := s.open("d1", unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer o.close()
		if ds, err := o.ofd.Getdents64(ctx, 0); err != nil || len(ds) != 0 {
			e.add("Getdents64(0): %d entries, %s", len(ds), errName(err))
		}
		return e.err()
	})
}
