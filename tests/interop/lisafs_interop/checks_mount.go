package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/lisafs"

	"gofer/tests/interop/harness"
)

// refSupported is what the reference gofer advertises in its Mount reply
// (runsc/fsgofer LisafsServer.SupportedMessages): everything but Flush,
// FListXattr and FRemoveXattr.
var refSupported = []lisafs.MID{
	lisafs.Mount, lisafs.Channel, lisafs.FStat, lisafs.SetStat, lisafs.Walk,
	lisafs.WalkStat, lisafs.OpenAt, lisafs.OpenCreateAt, lisafs.Close,
	lisafs.FSync, lisafs.PWrite, lisafs.PRead, lisafs.MkdirAt, lisafs.MknodAt,
	lisafs.SymlinkAt, lisafs.LinkAt, lisafs.FStatFS, lisafs.FAllocate,
	lisafs.ReadLinkAt, lisafs.Connect, lisafs.UnlinkAt, lisafs.RenameAt,
	lisafs.Getdents64, lisafs.FGetXattr, lisafs.FSetXattr, lisafs.BindAt,
	lisafs.Listen, lisafs.Accept,
}

var optionalMIDs = map[lisafs.MID]string{
	lisafs.Flush:        "Flush",
	lisafs.FListXattr:   "FListXattr",
	lisafs.FRemoveXattr: "FRemoveXattr",
}

// checkMount covers the Mount reply, the socket-only path, StartChannels and
// concurrent use of the channels. It runs in every configuration.
func (s *Suite) checkMount() {
	s.Check("Mount: root inode stat matches the host mount dir", func() error {
		if !s.g.Root.ControlFD.Ok() {
			return fmt.Errorf("root control FD is invalid")
		}
		return compareStat("root", s.g.Root.Stat, s.fx.Root)
	})

	if s.cfg.Donate {
		s.Check("Mount: donated mount FD is the mount dir, readable (not O_PATH)", func() error {
			fd := s.g.MountHostFD
			if fd < 0 {
				return fmt.Errorf("no host FD donated on Mount (got %d)", fd)
			}
			if err := harness.SameFile(fd, s.fx.Root); err != nil {
				return err
			}
			if err := harness.CheckNonblock("mount FD", fd); err != nil {
				return err
			}
			fl, err := fdFlags(fd)
			if err != nil {
				return err
			}
			if fl&unix.O_PATH != 0 || fl&unix.O_ACCMODE != unix.O_RDONLY {
				return fmt.Errorf("donated mount FD flags %#x: want O_RDONLY without O_PATH", fl)
			}
			buf := make([]byte, 4096)
			if n, err := unix.Getdents(fd, buf); err != nil || n <= 0 {
				return fmt.Errorf("getdents on the donated mount FD: n=%d err=%v", n, err)
			}
			return nil
		})
	} else {
		s.Check("Mount: no host FD donated without --donate-mount-fd", func() error {
			if s.g.MountHostFD != -1 {
				return fmt.Errorf("got mount FD %d, want -1", s.g.MountHostFD)
			}
			return nil
		})
	}

	s.Check("Mount: supported messages include all the reference's", func() error {
		var e harness.Errs
		for _, m := range refSupported {
			if !s.g.Client.IsSupported(m) {
				e.Add("MID %d not supported", m)
			}
		}
		var extra []string
		for m, name := range optionalMIDs {
			if s.g.Client.IsSupported(m) {
				extra = append(extra, name)
			}
		}
		// Today's reference lists FListXattr and FRemoveXattr (its gofer
		// passes xattrs to the host); 20240729's lists neither.
		if s.isRef() && today && len(extra) != 2 {
			e.Add("today's reference supports %v, want FListXattr and FRemoveXattr", extra)
		}
		if s.isRef() && !today && len(extra) > 0 {
			e.Add("reference unexpectedly supports %v", extra)
		}
		if !s.isRef() && s.cfg.XattrUser {
			for _, m := range []lisafs.MID{lisafs.FListXattr, lisafs.FRemoveXattr} {
				if !s.g.Client.IsSupported(m) {
					e.Add("--xattr-user but %s is not advertised", optionalMIDs[m])
				}
			}
		}
		if len(extra) > 0 {
			s.Info("optional messages advertised: %v", extra)
		}
		return e.Err()
	})

	// Before StartChannels every RPC (and FD donation) goes over the socket.
	s.Check("socket (pre-channel): FStat, Walk, OpenAt with FD donation, PRead", func() error {
		var st statx
		root := s.root()
		if err := root.StatTo(ctx, &st); err != nil {
			return harness.Wrap("StatTo(root)", err)
		}
		if err := compareStat("root", st, s.fx.Root); err != nil {
			return err
		}
		o, err := s.open("a.txt", unix.O_RDONLY)
		if err != nil {
			return err
		}
		defer o.close()
		if o.hostFD < 0 {
			return fmt.Errorf("no host FD donated for a regular file")
		}
		got, err := readAt(o.ofd, 0, 100)
		if err != nil {
			return harness.Wrap("PRead", err)
		}
		return harness.CompareBytes("PRead", got, s.fx.AContent()[:100])
	})

	if s.cfg.NoChannels {
		s.Info("no StartChannels: everything goes over the socket (as the sentry does with directfs)")
		return
	}
	s.Check("StartChannels succeeds (at least one channel)", func() error {
		return s.g.StartChannels()
	})

	s.Check("channels: 8 goroutines x 200 concurrent FStat+PRead", func() error {
		want := s.fx.AContent()
		var wg sync.WaitGroup
		errCh := make(chan error, 8)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				o, err := s.open("a.txt", unix.O_RDONLY)
				if err != nil {
					errCh <- err
					return
				}
				defer o.close()
				for i := 0; i < 200; i++ {
					var st statx
					if err := o.ofd.StatTo(ctx, &st); err != nil {
						errCh <- harness.Wrap("StatTo", err)
						return
					}
					if st.Size != uint64(len(want)) {
						errCh <- fmt.Errorf("size %d", st.Size)
						return
					}
					off := uint64((w*200 + i) % (len(want) - 64))
					got, err := readAt(o.ofd, off, 64)
					if err != nil {
						errCh <- harness.Wrap("PRead", err)
						return
					}
					if err := harness.CompareBytes("PRead", got, want[off:off+64]); err != nil {
						errCh <- err
						return
					}
				}
			}(w)
		}
		wg.Wait()
		close(errCh)
		return <-errCh
	})
}

// checkClose closes the client and expects a clean server exit.
func (s *Suite) checkClose() {
	if s.Broken != "" {
		s.Report("server exits 0 after the client closes", fmt.Errorf("not run: %s", s.Broken))
		if s.g != nil {
			s.g.Kill()
		}
		return
	}
	s.Check("server exits 0 after the client closes", func() error {
		return s.g.Close(10 * time.Second)
	})
}

// countServerFDs counts the server's open host FDs.
func (s *Suite) countServerFDs() (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.g.Pid()))
	return len(ents), err
}
