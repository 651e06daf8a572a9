package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/p9"

	"gofer/tests/interop/harness"
	"gofer/tests/interop/launcher"
)

// wantChannels is how many flipcall channels the client opens when the
// server grants them all (pkg/p9 channelsPerClient).
func wantChannels() int {
	n := runtime.NumCPU()
	if n < 2 {
		return 2
	}
	if n > 4 {
		return 4
	}
	return n
}

func parseGoogleVersion(v string) uint32 {
	if v == v0 {
		return 0
	}
	var n uint32
	fmt.Sscanf(v, "9P2000.L.Google.%d", &n)
	return n
}

// checkVersion negotiates the configuration's version (Tversion). An
// oversized msize is tried first on a throwaway gofer, so that a server
// which accepts it cannot leave the main client with an msize the server
// will not honour.
func (s *Suite) checkVersion(opts launcher.Options) {
	want0 := parseGoogleVersion(s.cfg.Version)
	name := "Tversion: msize above 1 MiB -> EINVAL (handlers.go Tversion); a retry with 1 MiB works on the same connection"
	if want0 == 0 {
		name = "Tversion 9P2000.L: msize above 1 MiB -> EINVAL (gVisor) or accepted (standard 9P); a retry with 1 MiB works"
	}
	s.Check(name, func() error {
		g, err := StartGofer(opts)
		if err != nil {
			return err
		}
		defer g.Kill()
		var e harness.Errs
		c, err := g.Connect(2<<20, s.cfg.Version)
		if err == nil {
			if want0 != 0 {
				e.Add("accepted msize %d", 2<<20)
			} else {
				s.Info("plain 9P2000.L: msize %d accepted (the reference answers EINVAL)", 2<<20)
			}
			c.Close()
		} else {
			e.Want("msize 2 MiB", err, unix.EINVAL)
			c, err := g.Connect(msize, s.cfg.Version)
			if e.OK("retry with 1 MiB", err) {
				if _, err := c.Attach("/"); err != nil {
					e.Add("Attach after the retry: %s", harness.ErrName(err))
				}
			}
		}
		if err := g.Close(10 * time.Second); err != nil {
			e.Add("%v", err)
		}
		return e.Err()
	})
	want := want0
	ask := s.cfg.Version
	name = fmt.Sprintf("Tversion: %s accepted", ask)
	if want == 13 {
		// The server answers EAGAIN to versions it does not know; the
		// client steps down one by one.
		ask = "9P2000.L.Google.20"
		name = "Tversion: Google.20 -> EAGAIN until Google.13 is accepted, on the same connection"
	}
	s.Check(name, func() error {
		c, err := s.g.Connect(msize, ask)
		if err != nil {
			return harness.Wrap("p9.NewClient", err)
		}
		s.c = c
		if got := c.Version(); got != want {
			return fmt.Errorf("negotiated version %d, want %d", got, want)
		}
		return nil
	})
	if s.c == nil {
		return
	}
	if want >= 8 {
		s.Check(fmt.Sprintf("Tchannel: client opened %d flipcall channels (version >= 8 uses them for every request)", wantChannels()), func() error {
			if n := clientChannels(s.c); n != wantChannels() {
				return fmt.Errorf("client has %d channels (Tchannel failed and it fell back to the socket?)", n)
			}
			return nil
		})
	} else {
		s.Check("no flipcall channels below version 8 (requests go over the socket)", func() error {
			if n := clientChannels(s.c); n != 0 {
				return fmt.Errorf("client has %d channels", n)
			}
			return nil
		})
	}
}

// checkSecondAttach: the reference's attach point serves one Tattach only
// (fsgofer.go Attach: "attach point already attached", which the handler
// turns into EIO). The sentry attaches once; report what we get.
func (s *Suite) checkSecondAttach() {
	s.Check("Tattach: a second attach (informational; the reference answers EIO)", func() error {
		f, err := s.c.Attach("/")
		if err != nil {
			s.Info("second Tattach: %s", harness.ErrName(err))
			return nil
		}
		s.Info("second Tattach succeeded")
		_, _, _, err = f.GetAttr(p9.AttrMaskAll())
		f.Close()
		return harness.Wrap("GetAttr through the second attach", err)
	})
}

func (s *Suite) checkAttach() {
	s.Check("Tattach: root GetAttr and QID match the mount point", func() error {
		root, err := s.c.Attach("/")
		if err != nil {
			return harness.Wrap("Attach", err)
		}
		s.root = root
		qid, valid, attr, err := root.GetAttr(p9.AttrMaskAll())
		if err != nil {
			return harness.Wrap("GetAttr(root)", err)
		}
		var e harness.Errs
		if err := compareAttr("root", valid, attr, s.fx.Root); err != nil {
			e.Add("%v", err)
		}
		if err := compareQID("root", qid, s.fx.Root); err != nil {
			e.Add("%v", err)
		}
		return e.Err()
	})
}

func (s *Suite) checkClose() {
	s.Check("Close (Tclunk) of the root; the gofer exits 0 once the client has gone (with fids still open)", func() error {
		var e harness.Errs
		// Leave an opened file, an opened directory and a walked fid
		// behind: the client going away must clean them up.
		if o, err := s.open("a.txt", p9.ReadOnly); e.OK("open a.txt", err) && o.host != nil {
			o.host.Close()
		}
		if _, err := s.open("d1", p9.ReadOnly); err != nil {
			e.Add("open d1: %v", err)
		}
		if _, err := s.walk("d1/d2"); err != nil {
			e.Add("%v", err)
		}
		e.OK("Close(root)", s.root.Close())
		if err := s.root.Close(); harness.WantErrno(err, unix.EBADF) != nil {
			e.Add("second Close: %v", harness.WantErrno(err, unix.EBADF))
		}
		s.c = nil
		if err := s.g.Close(10 * time.Second); err != nil {
			e.Add("%v", err)
		}
		return e.Err()
	})
}

// checkReads: everything that does not change the host.
func (s *Suite) checkReads() {
	deep := []string{"d1", "d2", "d3", "d4", "f5"}
	s.Check("Walk: 5 components -> 5 QIDs matching the host", func() error {
		qids, f, err := s.root.Walk(deep)
		if err != nil {
			return harness.Wrap("Walk", err)
		}
		defer f.Close()
		if len(qids) != 5 {
			return fmt.Errorf("%d QIDs, want 5", len(qids))
		}
		var e harness.Errs
		for i, q := range qids {
			p := s.fx.Path(deep[:i+1]...)
			if err := compareQID(deep[i], q, p); err != nil {
				e.Add("%v", err)
			}
		}
		_, valid, attr, err := f.GetAttr(p9.AttrMaskAll())
		if e.OK("GetAttr(f5)", err) {
			if err := compareAttr("f5", valid, attr, s.fx.Path(deep...)); err != nil {
				e.Add("%v", err)
			}
		}
		return e.Err()
	})
	s.Check("Walk: 22 components in one Twalk (no 16-name limit in gVisor's p9)", func() error {
		names := append(deepPath(), "f")
		qids, f, err := s.root.Walk(names)
		if err != nil {
			return harness.Wrap("Walk", err)
		}
		defer f.Close()
		if len(qids) != len(names) {
			return fmt.Errorf("%d QIDs, want %d", len(qids), len(names))
		}
		return compareQID("deep f", qids[len(qids)-1], s.fx.Path(names...))
	})
	s.Check("Walk: no names clones the fid (no QIDs); the clone is independent", func() error {
		qids, clone, err := s.root.Walk(nil)
		if err != nil {
			return harness.Wrap("Walk(nil)", err)
		}
		var e harness.Errs
		if len(qids) != 0 {
			e.Add("%d QIDs, want none", len(qids))
		}
		qid, valid, attr, err := clone.GetAttr(p9.AttrMaskAll())
		if e.OK("GetAttr(clone)", err) {
			if err := compareAttr("clone", valid, attr, s.fx.Root); err != nil {
				e.Add("%v", err)
			}
			if err := compareQID("clone", qid, s.fx.Root); err != nil {
				e.Add("%v", err)
			}
		}
		e.OK("Close(clone)", clone.Close())
		if _, _, _, err := s.root.GetAttr(p9.AttrMaskAll()); err != nil {
			e.Add("root after closing its clone: %s", harness.ErrName(err))
		}
		// Clone of a file fid, then open the clone.
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		_, c2, err := f.Walk(nil)
		if e.OK("Walk(nil) of a.txt", err) {
			host, _, _, err := c2.Open(p9.ReadOnly)
			if e.OK("Open(clone of a.txt)", err) {
				if b, err := readFull(c2, 0, harness.ASize); err != nil {
					e.Add("ReadAt(clone): %s", harness.ErrName(err))
				} else if err := harness.CompareBytes("clone read", b, s.fx.AContent()); err != nil {
					e.Add("%v", err)
				}
				if host != nil {
					host.Close()
				}
			}
			c2.Close()
		}
		return e.Err()
	})
	s.Check("Walk: symlink as last component is not followed (QID type symlink)", func() error {
		var e harness.Errs
		for _, rel := range []string{"link", "dlink", "longlink"} {
			qids, f, err := s.root.Walk([]string{rel})
			if !e.OK("Walk "+rel, err) {
				continue
			}
			if len(qids) != 1 {
				e.Add("%s: %d QIDs", rel, len(qids))
			} else if err := compareQID(rel, qids[0], s.fx.Path(rel)); err != nil {
				e.Add("%v", err)
			}
			f.Close()
		}
		return e.Err()
	})
	name := "WalkGetAttr (Twalkgetattr): QIDs of every component and the attr of the last"
	if s.version() < 2 {
		name = "WalkGetAttr (client falls back to Twalk+Tgetattr below version 2)"
	}
	s.Check(name, func() error {
		var e harness.Errs
		for _, path := range [][]string{deep, {"a.txt"}, {"link"}, {"d1"}, {"big.bin"}} {
			qids, f, valid, attr, err := s.root.WalkGetAttr(path)
			rel := strings.Join(path, "/")
			if !e.OK("WalkGetAttr "+rel, err) {
				continue
			}
			if len(qids) != len(path) {
				e.Add("%s: %d QIDs, want %d", rel, len(qids), len(path))
			} else {
				for i, q := range qids {
					if err := compareQID(rel, q, s.fx.Path(path[:i+1]...)); err != nil {
						e.Add("%v", err)
					}
				}
			}
			if err := compareAttr(rel, valid, attr, s.fx.Path(rel)); err != nil {
				e.Add("%v", err)
			}
			f.Close()
		}
		// No names: the clone's attributes, no QIDs.
		qids, f, valid, attr, err := s.root.WalkGetAttr(nil)
		if e.OK("WalkGetAttr(nil)", err) {
			if len(qids) != 0 {
				e.Add("WalkGetAttr(nil): %d QIDs", len(qids))
			}
			if err := compareAttr("WalkGetAttr(nil)", valid, attr, s.fx.Root); err != nil {
				e.Add("%v", err)
			}
			f.Close()
		}
		return e.Err()
	})
	s.Check("GetAttr: file, dir, symlinks, empty dir, big file match host lstat; QIDs too", func() error {
		var e harness.Errs
		for _, rel := range []string{"a.txt", "d1", "link", "dlink", "longlink", "empty", "big.bin", "many"} {
			f, err := s.walk(rel)
			if !e.OK("walk "+rel, err) {
				continue
			}
			qid, valid, attr, err := f.GetAttr(p9.AttrMaskAll())
			if e.OK("GetAttr "+rel, err) {
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
	s.checkMultiGetAttr()
	s.Check("StatFS matches the host's statfs of the mount", func() error {
		f, err := s.walk("d1")
		if err != nil {
			return err
		}
		defer f.Close()
		var e harness.Errs
		for _, file := range []p9.File{s.root, f} {
			st, err := file.StatFS()
			if !e.OK("StatFS", err) {
				continue
			}
			var h unix.Statfs_t
			if err := unix.Statfs(s.fx.Root, &h); err != nil {
				return err
			}
			if st.Type != uint32(h.Type) || st.BlockSize != uint32(h.Bsize) || st.Blocks != h.Blocks ||
				st.Files != h.Files || st.NameLength != uint32(h.Namelen) {
				e.Add("StatFS %+v; host type %#x bsize %d blocks %d files %d namelen %d",
					st, h.Type, h.Bsize, h.Blocks, h.Files, h.Namelen)
			}
		}
		return e.Err()
	})
	s.Check("Open ReadOnly: donated host FD (O_NONBLOCK) reads the file; ReadAt reads it too", func() error {
		o, err := s.open("a.txt", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		var e harness.Errs
		if err := compareQID("Rlopen QID", o.qid, s.fx.Path("a.txt")); err != nil {
			e.Add("%v", err)
		}
		if o.host == nil {
			e.Add("no host FD donated for a regular file")
		} else {
			if err := harness.SameFile(o.host.FD(), s.fx.Path("a.txt")); err != nil {
				e.Add("%v", err)
			}
			if err := harness.CheckNonblock("Open", o.host.FD()); err != nil {
				e.Add("%v", err)
			}
			buf := make([]byte, harness.ASize+10)
			n, err := unix.Pread(o.host.FD(), buf, 0)
			if err != nil {
				e.Add("pread(donated FD): %v", err)
			} else if err := harness.CompareBytes("pread(donated FD)", buf[:n], s.fx.AContent()); err != nil {
				e.Add("%v", err)
			}
		}
		b, err := readFull(o.f, 0, harness.ASize+100)
		if e.OK("ReadAt", err) {
			if err := harness.CompareBytes("ReadAt(0)", b, s.fx.AContent()); err != nil {
				e.Add("%v", err)
			}
		}
		b, err = readFull(o.f, 1000, 50)
		if e.OK("ReadAt(1000)", err) {
			if err := harness.CompareBytes("ReadAt(1000, 50)", b, s.fx.AContent()[1000:1050]); err != nil {
				e.Add("%v", err)
			}
		}
		n, err := o.f.ReadAt(make([]byte, 10), harness.ASize+5)
		if n != 0 || err == nil || harness.ErrnoOf(err) != 0 {
			e.Add("ReadAt past EOF: %d bytes, %s; want 0 bytes and io.EOF", n, harness.ErrName(err))
		}
		if n, err := o.f.ReadAt(nil, 0); n != 0 || err != nil {
			e.Add("ReadAt of 0 bytes: %d, %s; want 0, success", n, harness.ErrName(err))
		}
		return e.Err()
	})
	s.Check("ReadAt of a 5 MiB file in msize chunks, and through the donated FD", func() error {
		o, err := s.open("big.bin", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		var e harness.Errs
		want := s.fx.BigContent()
		b, err := readFull(o.f, 0, harness.BigSize+1000)
		if e.OK("ReadAt", err) {
			if err := harness.CompareBytes("ReadAt", b, want); err != nil {
				e.Add("%v", err)
			}
		}
		b, err = readFull(o.f, 3<<20+7, 1<<20)
		if e.OK("ReadAt(3 MiB+7)", err) {
			if err := harness.CompareBytes("ReadAt(3 MiB+7)", b, want[3<<20+7:4<<20+7]); err != nil {
				e.Add("%v", err)
			}
		}
		if o.host != nil {
			buf := make([]byte, 4096)
			n, err := unix.Pread(o.host.FD(), buf, harness.BigSize-4000)
			if err != nil || n != 4000 {
				e.Add("pread(donated): %d, %v", n, err)
			} else if err := harness.CompareBytes("pread(donated)", buf[:n], want[harness.BigSize-4000:]); err != nil {
				e.Add("%v", err)
			}
		} else {
			e.Add("no host FD donated")
		}
		return e.Err()
	})
	s.Check("Open of a directory: no FD donated (regular files only)", func() error {
		o, err := s.open("d1", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		var e harness.Errs
		if o.host != nil {
			e.Add("host FD %d donated for a directory", o.host.FD())
		}
		if err := compareQID("Rlopen QID", o.qid, s.fx.Path("d1")); err != nil {
			e.Add("%v", err)
		}
		return e.Err()
	})
	if s.fx.HasMount("mnt") {
		s.Check("nested mount: Walk and Readdir QIDs of a mount point and of a file below carry the second device's index and agree", func() error {
			var e harness.Errs
			qids, f, err := s.root.Walk([]string{"mnt", "inner.txt"})
			if err != nil {
				return harness.Wrap("Walk mnt/inner.txt", err)
			}
			f.Close()
			if len(qids) == 2 {
				if err := compareQID("Walk mnt", qids[0], s.fx.Path("mnt")); err != nil {
					e.Add("%v", err)
				}
				if err := compareQID("Walk mnt/inner.txt", qids[1], s.fx.Path("mnt", "inner.txt")); err != nil {
					e.Add("%v", err)
				}
			}
			for _, dir := range []string{"", "mnt"} {
				o, err := s.open(dir, p9.ReadOnly)
				if err != nil {
					return err
				}
				ds, _, err := readdirAll(o.f, 64*1024)
				o.close()
				if !e.OK("Readdir "+dir, err) {
					continue
				}
				for _, d := range ds {
					if d.Name != "mnt" && d.Name != "inner.txt" {
						continue
					}
					if err := compareQID("Readdir "+d.Name, d.QID, s.fx.Path(dir, d.Name)); err != nil {
						e.Add("%v", err)
					}
					if d.Name == "mnt" && len(qids) == 2 && d.QID != qids[0] {
						e.Add("Readdir QID of mnt %v != Walk QID %v", d.QID, qids[0])
					}
				}
			}
			return e.Err()
		})
	}
	s.checkReaddir()
	s.Check("Readlink: short, to a directory, 3000-byte target", func() error {
		var e harness.Errs
		for rel, want := range map[string]string{"link": "a.txt", "dlink": "d1", "longlink": harness.LongTargetString()} {
			f, err := s.walk(rel)
			if !e.OK("walk", err) {
				continue
			}
			got, err := f.Readlink()
			if e.OK("Readlink "+rel, err) && got != want {
				e.Add("Readlink(%s) = %q (%d bytes), want %d bytes", rel, got[:min(len(got), 40)], len(got), len(want))
			}
			f.Close()
		}
		return e.Err()
	})
	s.Check("FSync of an opened file and directory; Flush (Tflushf) of opened and unopened fids", func() error {
		var e harness.Errs
		o, err := s.open("a.txt", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		e.OK("FSync(a.txt)", o.f.FSync())
		e.OK("Flush(a.txt)", o.f.Flush())
		d, err := s.open("d1", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer d.close()
		e.OK("FSync(d1)", d.f.FSync())
		f, err := s.walk("link")
		if err != nil {
			return err
		}
		defer f.Close()
		e.OK("Flush(link)", f.Flush())
		e.OK("Flush(root)", s.root.Flush())
		return e.Err()
	})
}

func (s *Suite) checkMultiGetAttr() {
	name := "MultiGetAttr (Tmultigetattr)"
	if s.version() < 13 {
		name = "MultiGetAttr (client fallback below version 13)"
	}
	type tc struct {
		names []string
		want  []string // host paths of the expected stats
	}
	cases := []tc{
		{[]string{"", "d1", "d2", "d3", "d4", "f5"}, []string{"", "d1", "d1/d2", "d1/d2/d3", "d1/d2/d3/d4", "d1/d2/d3/d4/f5"}},
		{[]string{"d1", "d2"}, []string{"d1", "d1/d2"}},
		{[]string{"d1", "nope", "x"}, []string{"d1"}}, // stops at a missing name, no error
		{[]string{"nope"}, []string{}},                // nothing
		{[]string{"a.txt", "x"}, []string{"a.txt"}},   // stops after a non-directory
		{[]string{"dlink", "d2"}, []string{"dlink"}},  // symlinks are not followed
		{[]string{""}, []string{""}},                  // just the fid itself
		{[]string{}, []string{}},                      // nothing asked
	}
	s.Check(name+": stats of each component, stopping at a missing one or a non-directory", func() error {
		var e harness.Errs
		for _, c := range cases {
			stats, err := s.root.MultiGetAttr(c.names)
			what := fmt.Sprintf("MultiGetAttr(%q)", c.names)
			if !e.OK(what, err) {
				continue
			}
			if len(stats) != len(c.want) {
				e.Add("%s: %d stats, want %d", what, len(stats), len(c.want))
				continue
			}
			for i, st := range stats {
				p := s.fx.Path(c.want[i])
				if err := compareAttr(what, st.Valid, st.Attr, p); err != nil {
					e.Add("%v", err)
				}
				if err := compareQID(what, st.QID, p); err != nil {
					e.Add("%v", err)
				}
			}
		}
		return e.Err()
	})
	s.Check(name+": '..', '.', 'a/b' or a non-leading empty name -> EINVAL", func() error {
		var e harness.Errs
		for _, names := range [][]string{{".."}, {"d1", "."}, {"d1/d2"}, {"d1", ""}} {
			_, err := s.root.MultiGetAttr(names)
			e.Want(fmt.Sprintf("MultiGetAttr(%q)", names), err, unix.EINVAL)
		}
		return e.Err()
	})
	if s.cfg.HostFifo == "" && !s.standardClient() {
		s.Check(name+": a component the gofer refuses (FIFO) -> EPERM, not a short result", func() error {
			stats, err := s.root.MultiGetAttr([]string{"", "fifo"})
			if err := harness.WantErrno(err, unix.EPERM); err != nil {
				return fmt.Errorf("%v (%d stats)", err, len(stats))
			}
			return nil
		})
	}
}

func (s *Suite) checkReaddir() {
	s.Check("Readdir: root lists the host's entries (no . or ..), QIDs/types from lstat, offsets 1..n", func() error {
		o, err := s.open("", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		ds, _, err := readdirAll(o.f, 64*1024)
		if err != nil {
			return harness.Wrap("Readdir", err)
		}
		want, err := harness.HostNames(s.fx.Root)
		if err != nil {
			return err
		}
		var e harness.Errs
		dtTypes := 0
		seen := map[string]bool{}
		for i, d := range ds {
			if d.Offset != uint64(i+1) {
				e.Add("entry %d (%s) has offset %d, want %d", i, d.Name, d.Offset, i+1)
			}
			if seen[d.Name] {
				e.Add("%s listed twice", d.Name)
			}
			seen[d.Name] = true
			if !want[d.Name] {
				e.Add("listed %q which the host does not have", d.Name)
				continue
			}
			if d.Name == "mnt" {
				continue // the nested mount has its own check
			}
			if err := compareQID("dirent "+d.Name, d.QID, s.fx.Path(d.Name)); err != nil {
				e.Add("%v", err)
			}
			if d.Type != d.QID.Type {
				st, _ := hostStat(s.fx.Path(d.Name))
				if s.version() == 0 && uint8(d.Type) == harness.DirentType(st.Mode) {
					dtTypes++
				} else {
					e.Add("dirent %s type %d != QID type %d", d.Name, d.Type, d.QID.Type)
				}
			}
		}
		for n := range want {
			if !seen[n] {
				e.Add("host entry %q not listed", n)
			}
		}
		if dtTypes > 0 {
			s.Info("plain 9P2000.L: dirent types are DT_* values (Linux v9fs's d_type), not the QID type the reference sends")
		}
		return e.Err()
	})
	// 30 bytes hold exactly one entry (24 + "f00000").
	for _, count := range []uint32{64 * 1024, 300, 30} {
		count := count
		s.Check(fmt.Sprintf("Readdir: %d-entry directory with count %d, every name exactly once, batches fit count", manyCount, count), func() error {
			o, err := s.open("many", p9.ReadOnly)
			if err != nil {
				return err
			}
			defer o.close()
			var e harness.Errs
			seen := map[string]int{}
			off := uint64(0)
			calls := 0
			for {
				ds, err := o.f.Readdir(off, count)
				calls++
				if err != nil {
					return harness.Wrap(fmt.Sprintf("Readdir(%d, %d)", off, count), err)
				}
				if len(ds) == 0 {
					break
				}
				size := 0
				for _, d := range ds {
					seen[d.Name]++
					size += direntSize(d)
				}
				if size > int(count) {
					e.Add("batch at offset %d is %d bytes > count %d", off, size, count)
				}
				if ds[len(ds)-1].Offset <= off {
					return fmt.Errorf("offsets do not advance at %d", off)
				}
				off = ds[len(ds)-1].Offset
				if calls > 10*manyCount {
					return fmt.Errorf("too many Readdir calls")
				}
			}
			if len(seen) != manyCount {
				e.Add("%d distinct names, want %d", len(seen), manyCount)
			}
			for n, k := range seen {
				if k != 1 {
					e.Add("%s listed %d times", n, k)
				}
				if !strings.HasPrefix(n, "f") {
					e.Add("unexpected name %q", n)
				}
			}
			if count == 30 && calls != manyCount+1 {
				e.Add("%d calls with count 30, want one entry per call (%d)", calls, manyCount+1)
			}
			if count == 300 && calls < manyCount/20 {
				e.Add("only %d calls with count %d (count ignored?)", calls, count)
			}
			return e.Err()
		})
	}
	s.Check("Readdir: same offset repeats the batch, offset 0 rewinds, arbitrary offsets seek", func() error {
		o, err := s.open("many", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		full, _, err := readdirAll(o.f, 64*1024)
		if err != nil {
			return harness.Wrap("Readdir", err)
		}
		var names []string
		for _, d := range full {
			names = append(names, d.Name)
		}
		var e harness.Errs
		batch := func(off uint64) []string {
			ds, err := o.f.Readdir(off, 2000)
			if err != nil {
				e.Add("Readdir(%d): %s", off, harness.ErrName(err))
				return nil
			}
			var out []string
			for i, d := range ds {
				out = append(out, d.Name)
				if d.Offset != off+uint64(i)+1 {
					e.Add("Readdir(%d)[%d].Offset = %d, want %d", off, i, d.Offset, off+uint64(i)+1)
					break
				}
			}
			return out
		}
		expect := func(what string, off uint64, got []string) {
			if len(got) == 0 {
				e.Add("%s: empty batch at offset %d", what, off)
				return
			}
			if int(off)+len(got) > len(names) || strings.Join(got, ",") != strings.Join(names[off:int(off)+len(got)], ",") {
				e.Add("%s at offset %d: got %d names starting %q, want those of the full listing from %d", what, off, len(got), got[0], off)
			}
		}
		a := batch(0)
		expect("first batch", 0, a)
		b := batch(0)
		expect("offset 0 again (rewind)", 0, b)
		if len(a) > 0 {
			end := uint64(len(a))
			c := batch(end)
			expect("continuing", end, c)
			c2 := batch(end)
			expect("same offset again", end, c2)
		}
		expect("seek forward", 2500, batch(2500))
		expect("seek back", 10, batch(10))
		expect("offset 1", 1, batch(1))
		if ds, err := o.f.Readdir(uint64(len(names)), 2000); err != nil || len(ds) != 0 {
			e.Add("Readdir at the end: %d entries, %s; want none", len(ds), harness.ErrName(err))
		}
		if ds, err := o.f.Readdir(uint64(len(names))+100, 2000); err != nil || len(ds) != 0 {
			e.Add("Readdir past the end: %d entries, %s; want none", len(ds), harness.ErrName(err))
		}
		sorted := append([]string(nil), names...)
		sort.Strings(sorted)
		if len(sorted) != manyCount {
			e.Add("full listing has %d names", len(sorted))
		}
		return e.Err()
	})
	if !s.cfg.ReadOnly {
		s.Check("Readdir: offset 0 resynchronises with the directory (rewinddir): sees host changes", func() error {
			if err := os.Mkdir(s.fx.Path("scratch/rdsync"), 0o755); err != nil {
				return err
			}
			for _, n := range []string{"a", "b"} {
				if err := os.WriteFile(s.fx.Path("scratch/rdsync", n), nil, 0o644); err != nil {
					return err
				}
			}
			o, err := s.open("scratch/rdsync", p9.ReadOnly)
			if err != nil {
				return err
			}
			defer o.close()
			names := func() string {
				ds, _, err := readdirAll(o.f, 4096)
				if err != nil {
					return "error: " + harness.ErrName(err)
				}
				var out []string
				for _, d := range ds {
					out = append(out, d.Name)
				}
				sort.Strings(out)
				return strings.Join(out, ",")
			}
			var e harness.Errs
			if got := names(); got != "a,b" {
				e.Add("first listing %q, want a,b", got)
			}
			os.WriteFile(s.fx.Path("scratch/rdsync/c"), nil, 0o644)
			os.Remove(s.fx.Path("scratch/rdsync/a"))
			if got := names(); got != "b,c" {
				e.Add("listing after host changes %q, want b,c", got)
			}
			return e.Err()
		})
	}
	s.Check("Readdir: a count too small for one entry -> no entries, no error (Rreaddir encode drops what does not fit)", func() error {
		o, err := s.open("many", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		ds, err := o.f.Readdir(0, 10)
		if err != nil {
			return harness.Wrap("Readdir(0, 10)", err)
		}
		if len(ds) != 0 {
			return fmt.Errorf("%d entries in 10 bytes", len(ds))
		}
		// And the directory still reads normally afterwards.
		ds, err = o.f.Readdir(0, 4096)
		if err != nil || len(ds) == 0 {
			return fmt.Errorf("Readdir(0, 4096) afterwards: %d entries, %s", len(ds), harness.ErrName(err))
		}
		return nil
	})
	s.Check("Readdir: empty directory -> no entries", func() error {
		o, err := s.open("empty", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		ds, err := o.f.Readdir(0, 4096)
		if err != nil {
			return harness.Wrap("Readdir", err)
		}
		if len(ds) != 0 {
			return fmt.Errorf("%d entries: %v", len(ds), ds)
		}
		return nil
	})
}

// checkErrorsCommon: error paths that hold on read-only mounts too (the
// handler's checks come before the file's read-only check).
func (s *Suite) checkErrorsCommon() {
	s.Check("Walk/WalkGetAttr errors: missing -> ENOENT (no partial walk), through a file or a symlink -> EINVAL, long name -> ENAMETOOLONG", func() error {
		var e harness.Errs
		for _, c := range []struct {
			names []string
			want  unix.Errno
		}{
			{[]string{"nope"}, unix.ENOENT},
			{[]string{"d1", "nope", "x"}, unix.ENOENT},
			{[]string{"d1", "d2", "nope"}, unix.ENOENT},
			{[]string{"a.txt", "x"}, unix.EINVAL},
			{[]string{"dlink", "d2"}, unix.EINVAL},
			{[]string{"link", "x"}, unix.EINVAL},
			{[]string{strings.Repeat("n", 300)}, unix.ENAMETOOLONG},
		} {
			qids, f, err := s.root.Walk(c.names)
			if f != nil {
				f.Close()
			}
			e.Want(fmt.Sprintf("Walk(%q) (qids %d)", c.names, len(qids)), err, c.want)
			qids, f, _, _, err = s.root.WalkGetAttr(c.names)
			if f != nil {
				f.Close()
			}
			e.Want(fmt.Sprintf("WalkGetAttr(%q) (qids %d)", c.names, len(qids)), err, c.want)
		}
		return e.Err()
	})
	s.Check("Walk: '', '.', '..', 'a/b' -> EINVAL (checkSafeName); a NUL byte -> EINVAL", func() error {
		var e harness.Errs
		for _, names := range [][]string{{""}, {"."}, {".."}, {"d1/d2"}, {"d1", ".."}, {"a\x00b"}} {
			_, f, err := s.root.Walk(names)
			if f != nil {
				f.Close()
			}
			e.Want(fmt.Sprintf("Walk(%q)", names), err, unix.EINVAL)
		}
		return e.Err()
	})
	if s.standardClient() {
		// Plain 9P2000.L is a standard client (Linux's v9fs): its kernel serves
		// special files itself, so it walks to and stats every type; the gofer
		// holds them by O_PATH and never opens them (docs/p9.md).
		s.Check("Walk (plain 9P2000.L) reaches every file type: block device, FIFO, sockets; Open of a device or FIFO -> EPERM", func() error {
			var e harness.Errs
			rels := []string{"fifo", "hostsock", "sockdir/s"}
			if s.fx.HasBlk {
				rels = append(rels, "blk")
			}
			for _, rel := range rels {
				f, err := s.walk(rel)
				if err != nil {
					e.Add("%v", err)
					continue
				}
				if rel == "blk" || rel == "fifo" {
					fd, _, _, err := f.Open(p9.ReadOnly)
					if fd != nil {
						fd.Close()
					}
					e.Want("Open "+rel, err, unix.EPERM)
				}
				f.Close()
			}
			return e.Err()
		})
	} else {
		s.Check("Walk to unsupported file types -> EPERM (block device; FIFO without --host-fifo; socket without --host-uds)", func() error {
			var e harness.Errs
			var rels []string
			if s.fx.HasBlk {
				rels = append(rels, "blk")
			}
			if s.cfg.HostFifo == "" {
				rels = append(rels, "fifo")
			}
			if s.cfg.HostUDS == "" {
				rels = append(rels, "hostsock", "sockdir/s")
			}
			for _, rel := range rels {
				f, err := s.walk(rel)
				if f != nil {
					f.Close()
				}
				e.Want("Walk "+rel, err, unix.EPERM)
				_, f2, _, _, err := s.root.WalkGetAttr(harness.Split(rel))
				if f2 != nil {
					f2.Close()
				}
				e.Want("WalkGetAttr "+rel, err, unix.EPERM)
			}
			// A directory containing them still lists them.
			return e.Err()
		})
	}
	s.Check("opened fid: Walk -> EBUSY, Open again -> EINVAL", func() error {
		o, err := s.open("d1", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		var e harness.Errs
		_, f, err := o.f.Walk([]string{"d2"})
		if f != nil {
			f.Close()
		}
		e.Want("Walk from opened dir", err, unix.EBUSY)
		_, f, err = o.f.Walk(nil)
		if f != nil {
			f.Close()
		}
		e.Want("Walk(nil) of opened dir", err, unix.EBUSY)
		_, _, _, _, err = o.f.WalkGetAttr([]string{"d2"})
		e.Want("WalkGetAttr from opened dir", err, unix.EBUSY)
		_, _, _, err = o.f.Open(p9.ReadOnly)
		e.Want("second Open", err, unix.EINVAL)
		return e.Err()
	})
	s.Check("Open: directory for writing or truncation -> EISDIR; symlink -> EINVAL", func() error {
		var e harness.Errs
		for _, fl := range []p9.OpenFlags{p9.WriteOnly, p9.ReadWrite, p9.ReadOnly | p9.OpenTruncate} {
			f, err := s.walk("d1")
			if err != nil {
				return err
			}
			_, _, _, err = f.Open(fl)
			e.Want(fmt.Sprintf("Open(d1, %v)", fl), err, unix.EISDIR)
			f.Close()
		}
		f, err := s.walk("link")
		if err != nil {
			return err
		}
		_, _, _, err = f.Open(p9.ReadOnly)
		e.Want("Open(link)", err, unix.EINVAL)
		f.Close()
		return e.Err()
	})
	s.Check("unopened fid: ReadAt/WriteAt/FSync/Readdir -> EINVAL; Allocate -> EINVAL", func() error {
		var e harness.Errs
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.ReadAt(make([]byte, 10), 0)
		e.Want("ReadAt", err, unix.EINVAL)
		_, err = f.WriteAt([]byte("x"), 0)
		e.Want("WriteAt", err, unix.EINVAL)
		e.Want("FSync", f.FSync(), unix.EINVAL)
		if s.version() >= 7 {
			e.Want("Allocate", f.Allocate(p9.AllocateMode{}, 0, 10), unix.EINVAL)
		}
		d, err := s.walk("d1")
		if err != nil {
			return err
		}
		defer d.Close()
		_, err = d.Readdir(0, 4096)
		e.Want("Readdir(unopened dir)", err, unix.EINVAL)
		return e.Err()
	})
	s.Check("wrong kind: Readdir of an opened file, Readlink of a file/dir -> EINVAL; ReadAt of an opened dir -> EISDIR", func() error {
		var e harness.Errs
		o, err := s.open("a.txt", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		_, err = o.f.Readdir(0, 4096)
		e.Want("Readdir(file)", err, unix.EINVAL)
		_, err = o.f.Readlink()
		e.Want("Readlink(opened file)", err, unix.EINVAL)
		d, err := s.open("d1", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer d.close()
		_, err = d.f.Readlink()
		e.Want("Readlink(dir)", err, unix.EINVAL)
		_, err = d.f.ReadAt(make([]byte, 10), 0)
		e.Want("ReadAt(dir)", err, unix.EISDIR)
		return e.Err()
	})
	s.Check("opened ReadOnly: WriteAt -> EPERM; Allocate -> EBADF", func() error {
		var e harness.Errs
		o, err := s.open("a.txt", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		_, err = o.f.WriteAt([]byte("x"), 0)
		e.Want("WriteAt", err, unix.EPERM)
		if s.version() >= 7 {
			e.Want("Allocate", o.f.Allocate(p9.AllocateMode{}, 0, 10), unix.EBADF)
		}
		if got := harness.ReadHostFile(s.fx.Path("a.txt")); string(got) != string(s.fx.AContent()) {
			e.Add("host a.txt changed")
		}
		return e.Err()
	})
	s.Check("Connect on a non-socket -> EINVAL (ECONNREFUSED from the client below version 4)", func() error {
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Connect(p9.StreamSocket)
		if s.version() < 4 {
			return harness.WantErrno(err, unix.ECONNREFUSED)
		}
		return harness.WantErrno(err, unix.EINVAL)
	})
	s.Check("non-directory (file, symlink to a dir) or opened-directory fid: Create/Mkdir/Symlink/Link/Mknod/UnlinkAt/RenameAt -> EINVAL", func() error {
		var e harness.Errs
		uid, gid := s.ownerIDs()
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		dl, err := s.walk("dlink")
		if err != nil {
			return err
		}
		defer dl.Close()
		d, err := s.open("scratch", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer d.close()
		for what, dir := range map[string]p9.File{"file": f, "symlink to a dir": dl, "opened dir": d.f} {
			_, _, _, _, err := dir.Create("n", p9.ReadWrite, 0o644, uid, gid)
			e.Want(what+": Create", err, unix.EINVAL)
			_, err = dir.Mkdir("n", 0o755, uid, gid)
			e.Want(what+": Mkdir", err, unix.EINVAL)
			_, err = dir.Symlink("t", "n", uid, gid)
			e.Want(what+": Symlink", err, unix.EINVAL)
			e.Want(what+": Link", dir.Link(f, "n"), unix.EINVAL)
			_, err = dir.Mknod("n", p9.ModeRegular|0o644, 0, 0, uid, gid)
			e.Want(what+": Mknod", err, unix.EINVAL)
			e.Want(what+": UnlinkAt", dir.UnlinkAt("a.txt", 0), unix.EINVAL)
			e.Want(what+": RenameAt", dir.RenameAt("x", s.root, "y"), unix.EINVAL)
		}
		e.Want("RenameAt to a file", s.root.RenameAt("a.txt", f, "y"), unix.EINVAL)
		e.Want("Rename into a file", f.Rename(f, "y"), unix.EINVAL)
		for _, p := range []string{"scratch/n", "scratch/a.txt", "y", "d1/n"} {
			if err := harness.HostAbsent(s.fx.Path(p)); err != nil {
				e.Add("%v", err)
			}
		}
		return e.Err()
	})
	s.Check("bad names ('', '.', '..', 'a/b') for Create/Mkdir/Symlink/Link/Mknod/UnlinkAt/RenameAt/Rename -> EINVAL", func() error {
		var e harness.Errs
		uid, gid := s.ownerIDs()
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		for _, n := range []string{"", ".", "..", "scratch/x"} {
			err := s.withDir("scratch", func(dir p9.File) error {
				q := fmt.Sprintf("%q", n)
				_, _, _, _, err := dir.Create(n, p9.ReadWrite, 0o644, uid, gid)
				e.Want("Create "+q, err, unix.EINVAL)
				_, err = dir.Mkdir(n, 0o755, uid, gid)
				e.Want("Mkdir "+q, err, unix.EINVAL)
				_, err = dir.Symlink("t", n, uid, gid)
				e.Want("Symlink "+q, err, unix.EINVAL)
				e.Want("Link "+q, dir.Link(f, n), unix.EINVAL)
				_, err = dir.Mknod(n, p9.ModeRegular|0o644, 0, 0, uid, gid)
				e.Want("Mknod "+q, err, unix.EINVAL)
				e.Want("UnlinkAt "+q, dir.UnlinkAt(n, 0), unix.EINVAL)
				e.Want("RenameAt old "+q, s.root.RenameAt(n, dir, "x"), unix.EINVAL)
				e.Want("RenameAt new "+q, s.root.RenameAt("a.txt", dir, n), unix.EINVAL)
				e.Want("Rename "+q, f.Rename(dir, n), unix.EINVAL)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return e.Err()
	})
	s.Check("Rename of the root -> EINVAL; fids the server no longer has (clunked) -> EBADF", func() error {
		var e harness.Errs
		d, err := s.walk("scratch")
		if err != nil {
			return err
		}
		defer d.Close()
		e.Want("Rename(root)", s.root.Rename(d, "r"), unix.EINVAL)
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		gone, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		// Walk nothing between this and the uses below: the client would
		// hand the freed fid number out again.
		gone.Close()
		// The client checks only the receiver's closed flag; the other
		// fid reaches the server, which no longer knows it.
		e.Want("Link(clunked target)", d.Link(gone, "l"), unix.EBADF)
		e.Want("RenameAt(to a clunked dir)", s.root.RenameAt("a.txt", gone, "x"), unix.EBADF)
		e.Want("Rename(into a clunked dir)", f.Rename(gone, "x"), unix.EBADF)
		if err := harness.HostAbsent(s.fx.Path("scratch/l")); err != nil {
			e.Add("%v", err)
		}
		return e.Err()
	})
	s.Check("RenameAt to the same name in the same directory short-circuits to success (handlers.go Trenameat)", func() error {
		var e harness.Errs
		e.OK("RenameAt(a.txt -> a.txt)", s.root.RenameAt("a.txt", s.root, "a.txt"))
		e.OK("RenameAt(nope -> nope)", s.root.RenameAt("nope", s.root, "nope"))
		if err := harness.HostAbsent(s.fx.Path("nope")); err != nil {
			e.Add("%v", err)
		}
		return e.Err()
	})
}

// checkManyFids: a thousand fids alive at once, then all clunked.
func (s *Suite) checkManyFids() {
	s.Check("1000 fids alive at once (Walk + GetAttr each), then clunked", func() error {
		var files []p9.File
		defer func() { closeAll(files...) }()
		for i := 0; i < 1000; i++ {
			rel := []string{"a.txt", "d1", "many/f00042", "link"}[i%4]
			f, err := s.walk(rel)
			if err != nil {
				return fmt.Errorf("after %d fids: %v", i, err)
			}
			files = append(files, f)
		}
		for i, f := range files {
			if _, _, _, err := f.GetAttr(p9.AttrMaskAll()); err != nil {
				return fmt.Errorf("GetAttr of fid %d: %s", i, harness.ErrName(err))
			}
		}
		var e harness.Errs
		for _, f := range files {
			if err := f.Close(); err != nil {
				e.Add("Close: %s", harness.ErrName(err))
				break
			}
		}
		files = nil
		return e.Err()
	})
}

// checkConcurrent: more concurrent requests than channels (the client falls
// back to the socket for the excess).
func (s *Suite) checkConcurrent() {
	s.Check("concurrency: 16 goroutines x 30 Walk/Open (each donated FD is its own file)/ReadAt/GetAttr/Readdir/Clunk", func() error {
		var wg sync.WaitGroup
		errCh := make(chan error, 16)
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 30; i++ {
					rel := []string{"a.txt", "d1/d2/d3/d4/f5", "big.bin"}[(g+i)%3]
					o, err := s.open(rel, p9.ReadOnly)
					if err != nil {
						errCh <- err
						return
					}
					// Each reply's donated FD must be the one for its own
					// request, whichever channel or socket carried it.
					if o.host == nil {
						errCh <- fmt.Errorf("%s: no FD donated", rel)
						o.close()
						return
					}
					if err := harness.SameFile(o.host.FD(), s.fx.Path(rel)); err != nil {
						errCh <- fmt.Errorf("%s: %v", rel, err)
						o.close()
						return
					}
					b, err := readFull(o.f, 0, 64)
					want := harness.ReadHostFile(s.fx.Path(rel))
					if err != nil || string(b) != string(want[:min(64, len(want))]) {
						errCh <- fmt.Errorf("%s: ReadAt %q, %v", rel, b, err)
						o.close()
						return
					}
					if _, _, _, err := o.f.GetAttr(p9.AttrMaskAll()); err != nil {
						errCh <- fmt.Errorf("GetAttr: %v", err)
						o.close()
						return
					}
					o.close()
					if i%10 == 0 {
						d, err := s.open("many", p9.ReadOnly)
						if err != nil {
							errCh <- err
							return
						}
						ds, err := d.f.Readdir(0, 4096)
						d.close()
						if err != nil || len(ds) == 0 {
							errCh <- fmt.Errorf("Readdir: %d, %v", len(ds), err)
							return
						}
					}
				}
			}(g)
		}
		wg.Wait()
		close(errCh)
		var e harness.Errs
		for err := range errCh {
			e.Add("%v", err)
		}
		return e.Err()
	})
}
