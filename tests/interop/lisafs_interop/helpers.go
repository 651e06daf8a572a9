package main

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/lisafs"

	"gofer/tests/interop/harness"
)

// walkFrom walks rel from dir and returns the last component's control FD and
// stat. Intermediate FDs are queued for a batched close.
func (s *Suite) walkFrom(dir *lisafs.ClientFD, rel string) (lisafs.ClientFD, statx, error) {
	names := harness.Split(rel)
	status, inodes, err := dir.WalkMultiple(ctx, names)
	if err != nil {
		return lisafs.ClientFD{}, statx{}, fmt.Errorf("walk %q: %w", rel, err)
	}
	for i := 0; i+1 < len(inodes); i++ {
		s.g.Client.CloseFD(ctx, inodes[i].ControlFD, false)
	}
	if status != lisafs.WalkSuccess || len(inodes) != len(names) || len(names) == 0 {
		if len(inodes) > 0 {
			s.g.Client.CloseFD(ctx, inodes[len(inodes)-1].ControlFD, true)
		}
		if len(names) == 0 {
			return lisafs.ClientFD{}, statx{}, fmt.Errorf("walk of empty path")
		}
		return lisafs.ClientFD{}, statx{}, fmt.Errorf("walk %q: status %d with %d/%d inodes", rel, status, len(inodes), len(names))
	}
	last := inodes[len(inodes)-1]
	return *s.fd(last.ControlFD), last.Stat, nil
}

// walk walks rel from the mount root.
func (s *Suite) walk(rel string) (lisafs.ClientFD, statx, error) {
	return s.walkFrom(s.root(), rel)
}

// opened is a walked-and-opened file.
type opened struct {
	ctl, ofd lisafs.ClientFD
	hostFD   int
	stat     statx
}

func (o *opened) close() {
	closeHostFD(o.hostFD)
	o.hostFD = -1
	if o.ofd.Ok() {
		o.ofd.Close(ctx, false)
	}
	if o.ctl.Ok() {
		o.ctl.Close(ctx, true)
	}
}

// open walks rel from the root and opens it with flags.
func (s *Suite) open(rel string, flags uint32) (*opened, error) {
	ctl, st, err := s.walk(rel)
	if err != nil {
		return nil, err
	}
	id, hostFD, err := ctl.OpenAt(ctx, flags)
	if err != nil {
		ctl.Close(ctx, true)
		return nil, fmt.Errorf("OpenAt(%q, %#x): %w", rel, flags, err)
	}
	return &opened{ctl: ctl, ofd: *s.fd(id), hostFD: hostFD, stat: st}, nil
}

// closeFDs closes control/open FDs in one batched Close RPC.
func (s *Suite) closeFDs(fds ...lisafs.ClientFD) {
	var ok []lisafs.ClientFD
	for _, f := range fds {
		if f.Ok() {
			ok = append(ok, f)
		}
	}
	for i := range ok {
		ok[i].Close(ctx, i == len(ok)-1)
	}
}

// readAt reads [off, off+n) with the client's Read (which chunks by message
// size) and returns what it got (io.EOF at end is not an error).
func readAt(fd lisafs.ClientFD, off uint64, n int) ([]byte, error) {
	buf := make([]byte, n)
	got, err := fd.Read(ctx, buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return buf[:got], err
	}
	return buf[:got], nil
}

// listDir reads a whole directory through Getdents64 with the given count,
// returning the dirents in order and the number of RPCs made.
func listDir(ofd lisafs.ClientFD, count int32) ([]lisafs.Dirent64, int, error) {
	var all []lisafs.Dirent64
	calls := 0
	for {
		ds, err := ofd.Getdents64(ctx, count)
		calls++
		if err != nil {
			return all, calls, err
		}
		if len(ds) == 0 {
			return all, calls, nil
		}
		all = append(all, ds...)
		if calls > 100000 {
			return all, calls, fmt.Errorf("Getdents64 never returned an empty batch")
		}
	}
}

// ownerIDs returns the uid/gid to ask for when creating files: a foreign
// owner when running as root (the gofer must chown), else our own.
func (s *Suite) ownerIDs() (lisafs.UID, lisafs.GID) {
	if s.fx.IsRoot {
		return 1234, 5678
	}
	return lisafs.UID(unix.Geteuid()), lisafs.GID(unix.Getegid())
}
