package main

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/fd"
	"gvisor.dev/gvisor/pkg/p9"

	"gofer/tests/interop/harness"
)

// walk walks rel from the root (Twalk).
func (s *Suite) walk(rel string) (p9.File, error) {
	_, f, err := s.root.Walk(harness.Split(rel))
	if err != nil {
		return nil, fmt.Errorf("Walk %q: %w", rel, err)
	}
	return f, nil
}

// standardClient: the client negotiated plain 9P2000.L, which the gofer
// serves as a standard client (Linux's v9fs, diod's tools) rather than with
// gVisor's rules for special files (docs/p9.md).
func (s *Suite) standardClient() bool { return s.cfg.Version == v0 }

// closeAll clunks files, ignoring nils.
func closeAll(files ...p9.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// opened is a walked-and-opened file.
type opened struct {
	f    p9.File
	host *fd.FD
	qid  p9.QID
}

func (o *opened) close() {
	if o.host != nil {
		o.host.Close()
		o.host = nil
	}
	closeAll(o.f)
}

// open walks rel from the root and opens it (Tlopen).
func (s *Suite) open(rel string, flags p9.OpenFlags) (*opened, error) {
	f, err := s.walk(rel)
	if err != nil {
		return nil, err
	}
	host, qid, _, err := f.Open(flags)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("Open(%q, %v): %w", rel, flags, err)
	}
	return &opened{f: f, host: host, qid: qid}, nil
}

// withScratchDir walks a fresh (unopened) fid to scratch/ and runs fn.
func (s *Suite) withDir(rel string, fn func(dir p9.File) error) error {
	dir, err := s.walk(rel)
	if err != nil {
		return err
	}
	defer dir.Close()
	return fn(dir)
}

func hostStat(path string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Lstat(path, &st)
	return st, err
}

// seedValid is the attribute mask gVisor's 2021 p9 fsgofer fills in
// (../shared/seeds/fsgofer.go fillAttr): no INo, BTime, Gen or DataVersion.
var seedValid = p9.AttrMask{Mode: true, UID: true, GID: true, NLink: true, RDev: true,
	Size: true, Blocks: true, ATime: true, MTime: true, CTime: true}

// compareAttr compares a p9 Attr with the host's lstat of path (atime is
// not compared: reads update it).
func compareAttr(what string, valid p9.AttrMask, a p9.Attr, path string) error {
	st, err := hostStat(path)
	if err != nil {
		return fmt.Errorf("%s: host lstat(%s): %v", what, path, err)
	}
	var e harness.Errs
	if !valid.Contains(seedValid) {
		e.Add("valid %v lacks %v", valid, seedValid)
	}
	if uint32(a.Mode) != st.Mode {
		e.Add("mode %#o != host %#o", uint32(a.Mode), st.Mode)
	}
	if uint32(a.UID) != st.Uid || uint32(a.GID) != st.Gid {
		e.Add("uid:gid %d:%d != host %d:%d", a.UID, a.GID, st.Uid, st.Gid)
	}
	if a.NLink != uint64(st.Nlink) {
		e.Add("nlink %d != host %d", a.NLink, st.Nlink)
	}
	if a.RDev != st.Rdev {
		e.Add("rdev %#x != host %#x", a.RDev, st.Rdev)
	}
	if a.Size != uint64(st.Size) {
		e.Add("size %d != host %d", a.Size, st.Size)
	}
	if a.BlockSize != uint64(st.Blksize) {
		e.Add("blksize %d != host %d", a.BlockSize, st.Blksize)
	}
	if a.Blocks != uint64(st.Blocks) {
		e.Add("blocks %d != host %d", a.Blocks, st.Blocks)
	}
	if a.MTimeSeconds != uint64(st.Mtim.Sec) || a.MTimeNanoSeconds != uint64(st.Mtim.Nsec) {
		e.Add("mtime %d.%09d != host %d.%09d", a.MTimeSeconds, a.MTimeNanoSeconds, st.Mtim.Sec, st.Mtim.Nsec)
	}
	if a.CTimeSeconds != uint64(st.Ctim.Sec) || a.CTimeNanoSeconds != uint64(st.Ctim.Nsec) {
		e.Add("ctime %d.%09d != host %d.%09d", a.CTimeSeconds, a.CTimeNanoSeconds, st.Ctim.Sec, st.Ctim.Nsec)
	}
	if err := e.Err(); err != nil {
		return fmt.Errorf("%s (%s): %v", what, path, err)
	}
	return nil
}

// compareQID checks a QID against the host: the type from the file type and
// the path from the inode number (the reference's makeQID puts a small
// per-device index in the top byte: 0 for the mount's device, seen first,
// and 1 for the fixture's nested tmpfs, the only other one).
func compareQID(what string, q p9.QID, path string) error {
	st, err := hostStat(path)
	if err != nil {
		return fmt.Errorf("%s: host lstat(%s): %v", what, path, err)
	}
	qpath := st.Ino & 0x00ffffffffffffff
	if st.Dev != fixtureRootDev {
		// The only other device in a fixture is the nested tmpfs mnt/.
		qpath |= 1 << 56
	}
	want := p9.QID{Type: p9.FileMode(st.Mode).QIDType(), Path: qpath}
	if q != want {
		return fmt.Errorf("%s: QID %+v, want %+v (%s)", what, q, want, path)
	}
	return nil
}

// readFull reads [off, off+n) with the client's chunked ReadAt.
func readFull(f p9.File, off uint64, n int) ([]byte, error) {
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return buf[:got], err
	}
	return buf[:got], nil
}

// ownerIDs returns the uid/gid to ask for when creating files: a foreign
// owner when running as root (the gofer must chown), else our own.
func (s *Suite) ownerIDs() (p9.UID, p9.GID) {
	if s.fx.IsRoot {
		return 1234, 5678
	}
	return p9.UID(unix.Geteuid()), p9.GID(unix.Getegid())
}

// wantOwner is the owner a created file should have: the requested one from
// version 3 (Tucreate & co. carry the UID, and the GID is sent), else the
// gofer's own (Tlcreate & co. send NoGID and the server gets NoUID: fchown
// to -1:-1 is a no-op).
func (s *Suite) wantOwner(uid p9.UID, gid p9.GID) (uint32, uint32) {
	if s.version() >= 3 {
		return uint32(uid), uint32(gid)
	}
	return uint32(unix.Geteuid()), uint32(unix.Getegid())
}

// direntSize is the wire size of a Dirent (qid 13, offset 8, type 1, name).
func direntSize(d p9.Dirent) int { return 13 + 8 + 1 + 2 + len(d.Name) }

// readdirAll reads a whole opened directory by following dirent offsets.
func readdirAll(dir p9.File, count uint32) ([]p9.Dirent, int, error) {
	var all []p9.Dirent
	off := uint64(0)
	calls := 0
	for {
		ds, err := dir.Readdir(off, count)
		calls++
		if err != nil {
			return all, calls, err
		}
		if len(ds) == 0 {
			return all, calls, nil
		}
		all = append(all, ds...)
		off = ds[len(ds)-1].Offset
		if calls > 100000 {
			return all, calls, fmt.Errorf("Readdir never returned an empty batch")
		}
	}
}
