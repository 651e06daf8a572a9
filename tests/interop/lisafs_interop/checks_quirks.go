package main

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/lisafs"

	"gofer/tests/interop/harness"
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
			return harness.Wrap("GetXattr(size 0)", err)
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
			return harness.Wrap("UnlinkAt", err)
		}
		// The reference's handler checks a stale error variable, so the
		// EINVAL for the deleted node is dropped.
		t, err := ctl.ReadLinkAt(ctx)
		if err != nil || t != "" {
			return fmt.Errorf("got %q, %s; want \"\", success", t, harness.ErrName(err))
		}
		return nil
	})
	s.Check("deleted file: OpenAt -> EINVAL (today: opens it), SetStat and StatTo still work", func() error {
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
			return harness.Wrap("UnlinkAt", err)
		}
		var e harness.Errs
		id, fd, err := ctl.OpenAt(ctx, unix.O_RDONLY)
		closeHostFD(fd)
		if today {
			// Today's gofer opens deleted files (OpenOnDeleted).
			if e.OK("OpenAt", err) {
				s.closeFDs(*s.fd(id))
			}
		} else if harness.WantErrno(err, unix.EINVAL) != nil {
			e.Add("OpenAt: %v", harness.WantErrno(err, unix.EINVAL))
		}
		if err := setStat(ctl, &linux.Statx{Mask: unix.STATX_MODE, Mode: 0o600}); err != nil {
			e.Add("SetStat: %v", err)
		}
		var st statx
		if err := ctl.StatTo(ctx, &st); err != nil {
			e.Add("StatTo: %s", harness.ErrName(err))
		} else if st.Nlink != 0 || st.Mode != unix.S_IFREG|0o600 {
			e.Add("StatTo: nlink %d mode %#o, want 0 and 0100600", st.Nlink, st.Mode)
		}
		if harness.HostExists(p) {
			e.Add("%s still exists", p)
		}
		return e.Err()
	})
	s.Check("names with a NUL byte -> EINVAL; 256-byte names -> ENAMETOOLONG", func() error {
		uid, gid := s.ownerIDs()
		long := strings.Repeat("n", 256)
		return s.withScratch(func(dir lisafs.ClientFD) error {
			var e harness.Errs
			if _, err := dir.MkdirAt(ctx, "a\x00b", 0o755, uid, gid); harness.WantErrno(err, unix.EINVAL) != nil {
				e.Add("MkdirAt(NUL): %v", harness.WantErrno(err, unix.EINVAL))
			}
			if _, err := dir.Walk(ctx, "a\x00b"); harness.WantErrno(err, unix.EINVAL) != nil {
				e.Add("Walk(NUL): %v", harness.WantErrno(err, unix.EINVAL))
			}
			if _, err := dir.MkdirAt(ctx, long, 0o755, uid, gid); harness.WantErrno(err, unix.ENAMETOOLONG) != nil {
				e.Add("MkdirAt(256 bytes): %v", harness.WantErrno(err, unix.ENAMETOOLONG))
			}
			if _, err := dir.Walk(ctx, long); harness.WantErrno(err, unix.ENAMETOOLONG) != nil {
				e.Add("Walk(256 bytes): %v", harness.WantErrno(err, unix.ENAMETOOLONG))
			}
			return e.Err()
		})
	})
	s.Check(`WalkStat: empty path -> no stats; ["", ""] -> EINVAL; Getdents64 count 0 -> nothing`, func() error {
		var e harness.Errs
		if st, err := s.root().WalkStat(ctx, nil); err != nil || len(st) != 0 {
			e.Add("WalkStat([]): %d stats, %s", len(st), harness.ErrName(err))
		}
		if _, err := s.root().WalkStat(ctx, []string{"", ""}); harness.WantErrno(err, unix.EINVAL) != nil {
			e.Add(`WalkStat(["", ""]): %v`, harness.WantErrno(err, unix.EINVAL))
		}
		o, err := s.open("d1", unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer o.close()
		if ds, err := o.ofd.Getdents64(ctx, 0); err != nil || len(ds) != 0 {
			e.Add("Getdents64(0): %d entries, %s", len(ds), harness.ErrName(err))
		}
		return e.Err()
	})
}
