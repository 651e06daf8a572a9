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
func (s *Suite) checkVersion(opts GoferOpts) {
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
		var e errs
		c, err := g.Connect(2<<20, s.cfg.Version)
		if err == nil {
			if want0 != 0 {
				e.add("accepted msize %d", 2<<20)
			} else {
				s.Info("plain 9P2000.L: msize %d accepted (the reference answers EINVAL)", 2<<20)
			}
			c.Close()
		} else {
			e.want("msize 2 MiB", err, unix.EINVAL)
			c, err := g.Connect(msize, s.cfg.Version)
			if e.ok("retry with 1 MiB", err) {
				if _, err := c.Attach("/"); err != nil {
					e.add("Attach after the retry: %s", errName(err))
				}
			}
		}
		if err := g.Close(10 * time.Second); err != nil {
			e.add("%v", err)
		}
		return e.err()
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
			return wrap("p9.NewClient", err)
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
			s.Info("second Tattach: %s", errName(err))
			return nil
		}
		s.Info("second Tattach succeeded")
		_, _, _, err = f.GetAttr(p9.AttrMaskAll())
		f.Close()
		return wrap("GetAttr through the second attach", err)
	})
}

func (s *Suite) checkAttach() {
	s.Check("Tattach: root GetAttr and QID match the mount point", func() error {
		root, err := s.c.Attach("/")
		if err != nil {
			return wrap("Attach", err)
		}
		s.root = root
		qid, valid, attr, err := root.GetAttr(p9.AttrMaskAll())
		if err != nil {
			return wrap("GetAttr(root)", err)
		}
		var e errs
		if err := compareAttr("root", valid, attr, s.fx.Root); err != nil {
			e.add("%v", err)
		}
		if err := compareQID("root", qid, s.fx.Root); err != nil {
			e.add("%v", err)
		}
		return e.err()
	})
}

func (s *Suite) checkClose() {
	s.Check("Close (Tclunk) of the root; the gofer exits 0 once the client has gone (with fids still open)", func() error {
		var e errs
		// Leave an opened file, an opened directory and a walked fid
		// behind: the client going away must clean them up.
		if o, err := s.open("a.txt", p9.ReadOnly); e.ok("open a.txt", err) && o.host != nil {
			o.host.Close()
		}
		if _, err := s.open("d1", p9.ReadOnly); err != nil {
			e.add("open d1: %v", err)
		}
		if _, err := s.walk("d1/d2"); err != nil {
			e.add("%v", err)
		}
		e.ok("Close(root)", s.root.Close())
		if err := s.root.Close(); wantErrno(err, unix.EBADF) != nil {
			e.add("second Close: %v", wantErrno(err, unix.EBADF))
		}
		s.c = nil
		if err := s.g.Close(10 * time.Second); err != nil {
			e.add("%v", err)
		}
		return e.err()
	})
}

// checkReads: everything that does not change the host.
func (s *Suite) checkReads() {
	deep := []string{"d1", "d2", "d3", "d4", "f5"}
	s.Check("Walk: 5 components -> 5 QIDs matching the host", func() error {
		qids, f, err := s.root.Walk(deep)
		if err != nil {
			return wrap("Walk", err)
		}
		defer f.Close()
		if len(qids) != 5 {
			return fmt.Errorf("%d QIDs, want 5", len(qids))
		}
		var e errs
		for i, q := range qids {
			p := s.fx.Path(deep[:i+1]...)
			if err := compareQID(deep[i], q, p); err != nil {
				e.add("%v", err)
			}
		}
		_, valid, attr, err := f.GetAttr(p9.AttrMaskAll())
		if e.ok("GetAttr(f5)", err) {
			if err := compareAttr("f5", valid, attr, s.fx.Path(deep...)); err != nil {
				e.add("%v", err)
			}
		}
		return e.err()
	})
	s.Check("Walk: 22 components in one Twalk (no 16-name limit in gVisor's p9)", func() error {
		names := append(deepPath(), "f")
		qids, f, err := s.root.Walk(names)
		if err != nil {
			return wrap("Walk", err)
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
			return wrap("Walk(nil)", err)
		}
		var e errs
		if len(qids) != 0 {
			e.add("%d QIDs, want none", len(qids))
		}
		qid, valid, attr, err := clone.GetAttr(p9.AttrMaskAll())
		if e.ok("GetAttr(clone)", err) {
			if err := compareAttr("clone", valid, attr, s.fx.Root); err != nil {
				e.add("%v", err)
			}
			if err := compareQID("clone", qid, s.fx.Root); err != nil {
				e.add("%v", err)
			}
		}
		e.ok("Close(clone)", clone.Close())
		if _, _, _, err := s.root.GetAttr(p9.AttrMaskAll()); err != nil {
			e.add("root after closing its clone: %s", errName(err))
		}
		// Clone of a file fid, then open the clone.
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		_, c2, err := f.Walk(nil)
		if e.ok("Walk(nil) of a.txt", err) {
			host, _, _, err := c2.Open(p9.ReadOnly)
			if e.ok("Open(clone of a.txt)", err) {
				if b, err := readFull(c2, 0, aSize); err != nil {
					e.add("ReadAt(clone): %s", errName(err))
				} else if err := compareBytes("clone read", b, aContent()); err != nil {
					e.add("%v", err)
				}
				if host != nil {
					host.Close()
				}
			}
			c2.Close()
		}
		return e.err()
	})
	s.Check("Walk: symlink as last component is not followed (QID type symlink)", func() error {
		var e errs
		for _, rel := range []string{"link", "dlink", "longlink"} {
			qids, f, err := s.root.Walk([]string{rel})
			if !e.ok("Walk "+rel, err) {
				continue
			}
			if len(qids) != 1 {
				e.add("%s: %d QIDs", rel, len(qids))
			} else if err := compareQID(rel, qids[0], s.fx.Path(rel)); err != nil {
				e.add("%v", err)
			}
			f.Close()
		}
		return e.err()
	})
	name := "WalkGetAttr (Twalkgetattr): QIDs of every component and the attr of the last"
	if s.version() < 2 {
		name = "WalkGetAttr (client falls back to Twalk+Tgetattr below version 2)"
	}
	s.Check(name, func() error {
		var e errs
		for _, path := range [][]string{deep, {"a.txt"}, {"link"}, {"d1"}, {"big.bin"}} {
			qids, f, valid, attr, err := s.root.WalkGetAttr(path)
			rel := strings.Join(path, "/")
			if !e.ok("WalkGetAttr "+rel, err) {
				continue
			}
			if len(qids) != len(path) {
				e.add("%s: %d QIDs, want %d", rel, len(qids), len(path))
			} else {
				for i, q := range qids {
					if err := compareQID(rel, q, s.fx.Path(path[:i+1]...)); err != nil {
						e.add("%v", err)
					}
				}
			}
			if err := compareAttr(rel, valid, attr, s.fx.Path(rel)); err != nil {
				e.add("%v", err)
			}
			f.Close()
		}
		// No names: the clone's attributes, no QIDs.
		qids, f, valid, attr, err := s.root.WalkGetAttr(nil)
		if e.ok("WalkGetAttr(nil)", err) {
			if len(qids) != 0 {
				e.add("WalkGetAttr(nil): %d QIDs", len(qids))
			}
			if err := compareAttr("WalkGetAttr(nil)", valid, attr, s.fx.Root); err != nil {
				e.add("%v", err)
			}
			f.Close()
		}
		return e.err()
	})
	s.Check("GetAttr: file, dir, symlinks, empty dir, big file match host lstat; QIDs too", func() error {
		var e errs
		for _, rel := range []string{"a.txt", "d1", "link", "dlink", "longlink", "empty", "big.bin", "many"} {
			f, err := s.walk(rel)
			if !e.ok("walk "+rel, err) {
				continue
			}
			qid, valid, attr, err := f.GetAttr(p9.AttrMaskAll())
			if e.ok("GetAttr "+rel, err) {
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
	s.checkMultiGetAttr()
	s.Check("StatFS matches the host's statfs of the mount", func() error {
		f, err := s.walk("d1")
		if err != nil {
			return err
		}
		defer f.Close()
		var e errs
		for _, file := range []p9.File{s.root, f} {
			st, err := file.StatFS()
			if !e.ok("StatFS", err) {
				continue
			}
			var h unix.Statfs_t
			if err := unix.Statfs(s.fx.Root, &h); err != nil {
				return err
			}
			if st.Type != uint32(h.Type) || st.BlockSize != uint32(h.Bsize) || st.Blocks != h.Blocks ||
				st.Files != h.Files || st.NameLength != uint32(h.Namelen) {
				e.add("StatFS %+v; host type %#x bsize %d blocks %d files %d namelen %d",
					st, h.Type, h.Bsize, h.Blocks, h.Files, h.Namelen)
			}
		}
		return e.err()
	})
	s.Check("Open ReadOnly: donated host FD (O_NONBLOCK) reads the file; ReadAt reads it too", func() error {
		o, err := s.open("a.txt", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		var e errs
		if err := compareQID("Rlopen QID", o.qid, s.fx.Path("a.txt")); err != nil {
			e.add("%v", err)
		}
		if o.host == nil {
			e.add("no host FD donated for a regular file")
		} else {
			if err := sameFile(o.host, s.fx.Path("a.txt")); err != nil {
				e.add("%v", err)
			}
			if err := checkNonblock("Open", o.host); err != nil {
				e.add("%v", err)
			}
			buf := make([]byte, aSize+10)
			n, err := unix.Pread(o.host.FD(), buf, 0)
			if err != nil {
				e.add("pread(donated FD): %v", err)
			} else if err := compareBytes("pread(donated FD)", buf[:n], aContent()); err != nil {
				e.add("%v", err)
			}
		}
		b, err := readFull(o.f, 0, aSize+100)
		if e.ok("ReadAt", err) {
			if err := compareBytes("ReadAt(0)", b, aContent()); err != nil {
				e.add("%v", err)
			}
		}
		b, err = readFull(o.f, 1000, 50)
		if e.ok("ReadAt(1000)", err) {
			if err := compareBytes("ReadAt(1000, 50)", b, aContent()[1000:1050]); err != nil {
				e.add("%v", err)
			}
		}
		n, err := o.f.ReadAt(make([]byte, 10), aSize+5)
		if n != 0 || err == nil || errnoOf(err) != 0 {
			e.add("ReadAt past EOF: %d bytes, %s; want 0 bytes and io.EOF", n, errName(err))
		}
		if n, err := o.f.ReadAt(nil, 0); n != 0 || err != nil {
			e.add("ReadAt of 0 bytes: %d, %s; want 0, success", n, errName(err))
		}
		return e.err()
	})
	s.Check("ReadAt of a 5 MiB file in msize chunks, and through the donated FD", func() error {
		o, err := s.open("big.bin", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		var e errs
		want := bigContent()
		b, err := readFull(o.f, 0, bigSize+1000)
		if e.ok("ReadAt", err) {
			if err := compareBytes("ReadAt", b, want); err != nil {
				e.add("%v", err)
			}
		}
		b, err = readFull(o.f, 3<<20+7, 1<<20)
		if e.ok("ReadAt(3 MiB+7)", err) {
			if err := compareBytes("ReadAt(3 MiB+7)", b, want[3<<20+7:4<<20+7]); err != nil {
				e.add("%v", err)
			}
		}
		if o.host != nil {
			buf := make([]byte, 4096)
			n, err := unix.Pread(o.host.FD(), buf, bigSize-4000)
			if err != nil || n != 4000 {
				e.add("pread(donated): %d, %v", n, err)
			} else if err := compareBytes("pread(donated)", buf[:n], want[bigSize-4000:]); err != nil {
				e.add("%v", err)
			}
		} else {
			e.add("no host FD donated")
		}
		return e.err()
	})
	s.Check("Open of a directory: no FD donated (regular files only)", func() error {
		o, err := s.open("d1", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		var e errs
		if o.host != nil {
			e.add("host FD %d donated for a directory", o.host.FD())
		}
		if err := compareQID("Rlopen QID", o.qid, s.fx.Path("d1")); err != nil {
			e.add("%v", err)
		}
		return e.err()
	})
	if s.fx.HasMnt {
		s.Check("nested mount: Walk and Readdir QIDs of a mount point and of a file below carry the second device's index and agree", func() error {
			var e errs
			qids, f, err := s.root.Walk([]string{"mnt", "inner.txt"})
			if err != nil {
				return wrap("Walk mnt/inner.txt", err)
			}
			f.Close()
			if len(qids) == 2 {
				if err := compareQID("Walk mnt", qids[0], s.fx.Path("mnt")); err != nil {
					e.add("%v", err)
				}
				if err := compareQID("Walk mnt/inner.txt", qids[1], s.fx.Path("mnt", "inner.txt")); err != nil {
					e.add("%v", err)
				}
			}
			for _, dir := range []string{"", "mnt"} {
				o, err := s.open(dir, p9.ReadOnly)
				if err != nil {
					return err
				}
				ds, _, err := readdirAll(o.f, 64*1024)
				o.close()
				if !e.ok("Readdir "+dir, err) {
					continue
				}
				for _, d := range ds {
					if d.Name != "mnt" && d.Name != "inner.txt" {
						continue
					}
					if err := compareQID("Readdir "+d.Name, d.QID, s.fx.Path(dir, d.Name)); err != nil {
						e.add("%v", err)
					}
					if d.Name == "mnt" && len(qids) == 2 && d.QID != qids[0] {
						e.add("Readdir QID of mnt %v != Walk QID %v", d.QID, qids[0])
					}
				}
			}
			return e.err()
		})
	}
	s.checkReaddir()
	s.Check("Readlink: short, to a directory, 3000-byte target", func() error {
		var e errs
		for rel, want := range map[string]string{"link": "a.txt", "dlink": "d1", "longlink": longTargetString()} {
			f, err := s.walk(rel)
			if !e.ok("walk", err) {
				continue
			}
			got, err := f.Readlink()
			if e.ok("Readlink "+rel, err) && got != want {
				e.add("Readlink(%s) = %q (%d bytes), want %d bytes", rel, got[:min(len(got), 40)], len(got), len(want))
			}
			f.Close()
		}
		return e.err()
	})
	s.Check("FSync of an opened file and directory; Flush (Tflushf) of opened and unopened fids", func() error {
		var e errs
		o, err := s.open("a.txt", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		e.ok("FSync(a.txt)", o.f.FSync())
		e.ok("Flush(a.txt)", o.f.Flush())
		d, err := s.open("d1", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer d.close()
		e.ok("FSync(d1)", d.f.FSync())
		f, err := s.walk("link")
		if err != nil {
			return err
		}
		defer f.Close()
		e.ok("Flush(link)", f.Flush())
		e.ok("Flush(root)", s.root.Flush())
		return e.err()
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
		var e errs
		for _, c := range cases {
			stats, err := s.root.MultiGetAttr(c.names)
			what := fmt.Sprintf("MultiGetAttr(%q)", c.names)
			if !e.ok(what, err) {
				continue
			}
			if len(stats) != len(c.want) {
				e.add("%s: %d stats, want %d", what, len(stats), len(c.want))
				continue
			}
			for i, st := range stats {
				p := s.fx.Path(c.want[i])
				if err := compareAttr(what, st.Valid, st.Attr, p); err != nil {
					e.add("%v", err)
				}
				if err := compareQID(what, st.QID, p); err != nil {
					e.add("%v", err)
				}
			}
		}
		return e.err()
	})
	s.Check(name+": '..', '.', 'a/b' or a non-leading empty name -> EINVAL", func() error {
		var e errs
		for _, names := range [][]string{{".."}, {"d1", "."}, {"d1/d2"}, {"d1", ""}} {
			_, err := s.root.MultiGetAttr(names)
			e.want(fmt.Sprintf("MultiGetAttr(%q)", names), err, unix.EINVAL)
		}
		return e.err()
	})
	if s.cfg.HostFifo == "" {
		s.Check(name+": a component the gofer refuses (FIFO) -> EPERM, not a short result", func() error {
			stats, err := s.root.MultiGetAttr([]string{"", "fifo"})
			if err := wantErrno(err, unix.EPERM); err != nil {
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
			return wrap("Readdir", err)
		}
		want, err := hostNames(s.fx.Root)
		if err != nil {
			return err
		}
		var e errs
		dtTypes := 0
		seen := map[string]bool{}
		for i, d := range ds {
			if d.Offset != uint64(i+1) {
				e.add("entry %d (%s) has offset %d, want %d", i, d.Name, d.Offset, i+1)
			}
			if seen[d.Name] {
				e.add("%s listed twice", d.Name)
			}
			seen[d.Name] = true
			if !want[d.Name] {
				e.add("listed %q which the host does not have", d.Name)
				continue
			}
			if d.Name == "mnt" {
				continue // the nested mount has its own check
			}
			if err := compareQID("dirent "+d.Name, d.QID, s.fx.Path(d.Name)); err != nil {
				e.add("%v", err)
			}
			if d.Type != d.QID.Type {
				st, _ := hostStat(s.fx.Path(d.Name))
				if s.version() == 0 && uint8(d.Type) == direntType(st.Mode) {
					dtTypes++
				} else {
					e.add("dirent %s type %d != QID type %d", d.Name, d.Type, d.QID.Type)
				}
			}
		}
		for n := range want {
			if !seen[n] {
				e.add("host entry %q not listed", n)
			}
		}
		if dtTypes > 0 {
			s.Info("plain 9P2000.L: dirent types are DT_* values (Linux v9fs's d_type), not the QID type the reference sends")
		}
		return e.err()
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
			var e errs
			seen := map[string]int{}
			off := uint64(0)
			calls := 0
			for {
				ds, err := o.f.Readdir(off, count)
				calls++
				if err != nil {
					return wrap(fmt.Sprintf("Readdir(%d, %d)", off, count), err)
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
					e.add("batch at offset %d is %d bytes > count %d", off, size, count)
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
				e.add("%d distinct names, want %d", len(seen), manyCount)
			}
			for n, k := range seen {
				if k != 1 {
					e.add("%s listed %d times", n, k)
				}
				if !strings.HasPrefix(n, "f") {
					e.add("unexpected name %q", n)
				}
			}
			if count == 30 && calls != manyCount+1 {
				e.add("%d calls with count 30, want one entry per call (%d)", calls, manyCount+1)
			}
			if count == 300 && calls < manyCount/20 {
				e.add("only %d calls with count %d (count ignored?)", calls, count)
			}
			return e.err()
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
			return wrap("Readdir", err)
		}
		var names []string
		for _, d := range full {
			names = append(names, d.Name)
		}
		var e errs
		batch := func(off uint64) []string {
			ds, err := o.f.Readdir(off, 2000)
			if err != nil {
				e.add("Readdir(%d): %s", off, errName(err))
				return nil
			}
			var out []string
			for i, d := range ds {
				out = append(out, d.Name)
				if d.Offset != off+uint64(i)+1 {
					e.add("Readdir(%d)[%d].Offset = %d, want %d", off, i, d.Offset, off+uint64(i)+1)
					break
				}
			}
			return out
		}
		expect := func(what string, off uint64, got []string) {
			if len(got) == 0 {
				e.add("%s: empty batch at offset %d", what, off)
				return
			}
			if int(off)+len(got) > len(names) || strings.Join(got, ",") != strings.Join(names[off:int(off)+len(got)], ",") {
				e.add("%s at offset %d: got %d names starting %q, want those of the full listing from %d", what, off, len(got), got[0], off)
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
			e.add("Readdir at the end: %d entries, %s; want none", len(ds), errName(err))
		}
		if ds, err := o.f.Readdir(uint64(len(names))+100, 2000); err != nil || len(ds) != 0 {
			e.add("Readdir past the end: %d entries, %s; want none", len(ds), errName(err))
		}
		sorted := append([]string(nil), names...)
		sort.Strings(sorted)
		if len(sorted) != manyCount {
			e.add("full listing has %d names", len(sorted))
		}
		return e.err()
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
					return "error: " + errName(err)
				}
				var out []string
				for _, d := range ds {
					out = append(out, d.Name)
				}
				sort.Strings(out)
				return strings.Join(out, ",")
			}
			var e errs
			if got := names(); got != "a,b" {
				e.add("first listing %q, want a,b", got)
			}
			os.WriteFile(s.fx.Path("scratch/rdsync/c"), nil, 0o644)
			os.Remove(s.fx.Path("scratch/rdsync/a"))
			if got := names(); got != "b,c" {
				e.add("listing after host changes %q, want b,c", got)
			}
			return e.err()
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
			return wrap("Readdir(0, 10)", err)
		}
		if len(ds) != 0 {
			return fmt.Errorf("%d entries in 10 bytes", len(ds))
		}
		// And the directory still reads normally afterwards.
		ds, err = o.f.Readdir(0, 4096)
		if err != nil || len(ds) == 0 {
			return fmt.Errorf("Readdir(0, 4096) afterwards: %d entries, %s", len(ds), errName(err))
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
			return wrap("Readdir", err)
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
		var e errs
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
			e.want(fmt.Sprintf("Walk(%q) (qids %d)", c.names, len(qids)), err, c.want)
			qids, f, _, _, err = s.root.WalkGetAttr(c.names)
			if f != nil {
				f.Close()
			}
			e.want(fmt.Sprintf("WalkGetAttr(%q) (qids %d)", c.names, len(qids)), err, c.want)
		}
		return e.err()
	})
	s.Check("Walk: '', '.', '..', 'a/b' -> EINVAL (checkSafeName); a NUL byte -> EINVAL", func() error {
		var e errs
		for _, names := range [][]string{{""}, {"."}, {".."}, {"d1/d2"}, {"d1", ".."}, {"a\x00b"}} {
			_, f, err := s.root.Walk(names)
			if f != nil {
				f.Close()
			}
			e.want(fmt.Sprintf("Walk(%q)", names), err, unix.EINVAL)
		}
		return e.err()
	})
	s.Check("Walk to unsupported file types -> EPERM (block device; FIFO without --host-fifo; socket without --host-uds)", func() error {
		var e errs
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
			e.want("Walk "+rel, err, unix.EPERM)
			_, f2, _, _, err := s.root.WalkGetAttr(split(rel))
			if f2 != nil {
				f2.Close()
			}
			e.want("WalkGetAttr "+rel, err, unix.EPERM)
		}
		// A directory containing them still lists them.
		return e.err()
	})
	s.Check("opened fid: Walk -> EBUSY, Open again -> EINVAL", func() error {
		o, err := s.open("d1", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		var e errs
		_, f, err := o.f.Walk([]string{"d2"})
		if f != nil {
			f.Close()
		}
		e.want("Walk from opened dir", err, unix.EBUSY)
		_, f, err = o.f.Walk(nil)
		if f != nil {
			f.Close()
		}
		e.want("Walk(nil) of opened dir", err, unix.EBUSY)
		_, _, _, _, err = o.f.WalkGetAttr([]string{"d2"})
		e.want("WalkGetAttr from opened dir", err, unix.EBUSY)
		_, _, _, err = o.f.Open(p9.ReadOnly)
		e.want("second Open", err, unix.EINVAL)
		return e.err()
	})
	s.Check("Open: directory for writing or truncation -> EISDIR; symlink -> EINVAL", func() error {
		var e errs
		for _, fl := range []p9.OpenFlags{p9.WriteOnly, p9.ReadWrite, p9.ReadOnly | p9.OpenTruncate} {
			f, err := s.walk("d1")
			if err != nil {
				return err
			}
			_, _, _, err = f.Open(fl)
			e.want(fmt.Sprintf("Open(d1, %v)", fl), err, unix.EISDIR)
			f.Close()
		}
		f, err := s.walk("link")
		if err != nil {
			return err
		}
		_, _, _, err = f.Open(p9.ReadOnly)
		e.want("Open(link)", err, unix.EINVAL)
		f.Close()
		return e.err()
	})
	s.Check("unopened fid: ReadAt/WriteAt/FSync/Readdir -> EINVAL; Allocate -> EINVAL", func() error {
		var e errs
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.ReadAt(make([]byte, 10), 0)
		e.want("ReadAt", err, unix.EINVAL)
		_, err = f.WriteAt([]byte("x"), 0)
		e.want("WriteAt", err, unix.EINVAL)
		e.want("FSync", f.FSync(), unix.EINVAL)
		if s.version() >= 7 {
			e.want("Allocate", f.Allocate(p9.AllocateMode{}, 0, 10), unix.EINVAL)
		}
		d, err := s.walk("d1")
		if err != nil {
			return err
		}
		defer d.Close()
		_, err = d.Readdir(0, 4096)
		e.want("Readdir(unopened dir)", err, unix.EINVAL)
		return e.err()
	})
	s.Check("wrong kind: Readdir of an opened file, Readlink of a file/dir -> EINVAL; ReadAt of an opened dir -> EISDIR", func() error {
		var e errs
		o, err := s.open("a.txt", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		_, err = o.f.Readdir(0, 4096)
		e.want("Readdir(file)", err, unix.EINVAL)
		_, err = o.f.Readlink()
		e.want("Readlink(opened file)", err, unix.EINVAL)
		d, err := s.open("d1", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer d.close()
		_, err = d.f.Readlink()
		e.want("Readlink(dir)", err, unix.EINVAL)
		_, err = d.f.ReadAt(make([]byte, 10), 0)
		e.want("ReadAt(dir)", err, unix.EISDIR)
		return e.err()
	})
	s.Check("opened ReadOnly: WriteAt -> EPERM; Allocate -> EBADF", func() error {
		var e errs
		o, err := s.open("a.txt", p9.ReadOnly)
		if err != nil {
			return err
		}
		defer o.close()
		_, err = o.f.WriteAt([]byte("x"), 0)
		e.want("WriteAt", err, unix.EPERM)
		if s.version() >= 7 {
			e.want("Allocate", o.f.Allocate(p9.AllocateMode{}, 0, 10), unix.EBADF)
		}
		if got := readHostFile(s.fx.Path("a.txt")); string(got) != string(aContent()) {
			e.add("host a.txt changed")
		}
		return e.err()
	})
	s.Check("Connect on a non-socket -> EINVAL (ECONNREFUSED from the client below version 4)", func() error {
		f, err := s.walk("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Connect(p9.StreamSocket)
		if s.version() < 4 {
			return wantErrno(err, unix.ECONNREFUSED)
		}
		return wantErrno(err, unix.EINVAL)
	})
	s.Check("non-directory (file, symlink to a dir) or opened-directory fid: Create/Mkdir/Symlink/Link/Mknod/UnlinkAt/RenameAt -> EINVAL", func() error {
		var e errs
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
			e.want(what+": Create", err, unix.EINVAL)
			_, err = dir.Mkdir("n", 0o755, uid, gid)
			e.want(what+": Mkdir", err, unix.EINVAL)
			_, err = dir.Symlink("t", "n", uid, gid)
			e.want(what+": Symlink", err, unix.EINVAL)
			e.want(what+": Link", dir.Link(f, "n"), unix.EINVAL)
			_, err = dir.Mknod("n", p9.ModeRegular|0o644, 0, 0, uid, gid)
			e.want(what+": Mknod", err, unix.EINVAL)
			e.want(what+": UnlinkAt", dir.UnlinkAt("a.txt", 0), unix.EINVAL)
			e.want(what+": RenameAt", dir.RenameAt("x", s.root, "y"), unix.EINVAL)
		}
		e.want("RenameAt to a file", s.root.RenameAt("a.txt", f, "y"), unix.EINVAL)
		e.want("Rename into a file", f.Rename(f, "y"), unix.EINVAL)
		for _, p := range []string{"scratch/n", "scratch/a.txt", "y", "d1/n"} {
			if err := hostAbsent(s.fx.Path(p)); err != nil {
				e.add("%v", err)
			}
		}
		return e.err()
	})
	s.Check("bad names ('', '.', '..', 'a/b') for Create/Mkdir/Symlink/Link/Mknod/UnlinkAt/RenameAt/Rename -> EINVAL", func() error {
		var e errs
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
				e.want("Create "+q, err, unix.EINVAL)
				_, err = dir.Mkdir(n, 0o755, uid, gid)
				e.want("Mkdir "+q, err, unix.EINVAL)
				_, err = dir.Symlink("t", n, uid, gid)
				e.want("Symlink "+q, err, unix.EINVAL)
				e.want("Link "+q, dir.Link(f, n), unix.EINVAL)
				_, err = dir.Mknod(n, p9.ModeRegular|0o644, 0, 0, uid, gid)
				e.want("Mknod "+q, err, unix.EINVAL)
				e.want("UnlinkAt "+q, dir.UnlinkAt(n, 0), unix.EINVAL)
				e.want("RenameAt old "+q, s.root.RenameAt(n, dir, "x"), unix.EINVAL)
				e.want("RenameAt new "+q, s.root.RenameAt("a.txt", dir, n), unix.EINVAL)
				e.want("Rename "+q, f.Rename(dir, n), unix.EINVAL)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return e.err()
	})
	s.Check("Rename of the root -> EINVAL; fids the server no longer has (clunked) -> EBADF", func() error {
		var e errs
		d, err := s.walk("scratch")
		if err != nil {
			return err
		}
		defer d.Close()
		e.want("Rename(root)", s.root.Rename(d, "r"), unix.EINVAL)
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
		e.want("Link(clunked target)", d.Link(gone, "l"), unix.EBADF)
		e.want("RenameAt(to a clunked dir)", s.root.RenameAt("a.txt", gone, "x"), unix.EBADF)
		e.want("Rename(into a clunked dir)", f.Rename(gone, "x"), unix.EBADF)
		if err := hostAbsent(s.fx.Path("scratch/l")); err != nil {
			e.add("%v", err)
		}
		return e.err()
	})
	s.Check("RenameAt to the same name in the same directory short-circuits to success (handlers.go Trenameat)", func() error {
		var e errs
		e.ok("RenameAt(a.txt -> a.txt)", s.root.RenameAt("a.txt", s.root, "a.txt"))
		e.ok("RenameAt(nope -> nope)", s.root.RenameAt("nope", s.root, "nope"))
		if err := hostAbsent(s.fx.Path("nope")); err != nil {
			e.add("%v", err)
		}
		return e.err()
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
				return fmt.Errorf("GetAttr of fid %d: %s", i, errName(err))
			}
		}
		var e errs
		for _, f := range files {
			if err := f.Close(); err != nil {
				e.add("Close: %s", errName(err))
				break
			}
		}
		files = nil
		return e.err()
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
					if err := sameFile(o.host, s.fx.Path(rel)); err != nil {
						errCh <- fmt.Errorf("%s: %v", rel, err)
						o.close()
						return
					}
					b, err := readFull(o.f, 0, 64)
					want := readHostFile(s.fx.Path(rel))
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
		var e errs
		for err := range errCh {
			e.add("%v", err)
		}
		return e.err()
	})
}
