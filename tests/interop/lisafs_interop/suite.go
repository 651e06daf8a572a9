package main

import (
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/lisafs"

	"gofer/tests/interop/harness"
	"gofer/tests/interop/launcher"
)

// Suite runs the checks of one configuration against one gofer.
type Suite struct {
	*harness.Runner
	cfg    *Config
	server string // launcher.Ours or launcher.Ref
	g      *launcher.Gofer
	fx     *harness.Fixture
}

// isRef reports whether we are testing the reference gofer.
func (s *Suite) isRef() bool { return s.server == launcher.Ref }

// hostStat is lstat(2) of a host path as a unix.Statx_t.
func hostStat(path string) (unix.Statx_t, error) {
	var st unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st)
	return st, err
}

// statMaskBasic is what the reference reports in every stat.
const statMaskBasic = unix.STATX_TYPE | unix.STATX_MODE | unix.STATX_INO | unix.STATX_NLINK |
	unix.STATX_UID | unix.STATX_GID | unix.STATX_SIZE | unix.STATX_BLOCKS |
	unix.STATX_ATIME | unix.STATX_MTIME | unix.STATX_CTIME

// compareStat compares a lisafs stat with the host's stat of path. Atime is
// not compared (reads update it); use compareTimes for that.
func compareStat(what string, got statx, path string) error {
	want, err := hostStat(path)
	if err != nil {
		return fmt.Errorf("%s: host statx(%s): %v", what, path, err)
	}
	var e harness.Errs
	if got.Mask&statMaskBasic != statMaskBasic {
		e.Add("mask %#x lacks basic stats %#x", got.Mask, statMaskBasic)
	}
	if got.Mode != want.Mode {
		e.Add("mode %#o != host %#o", got.Mode, want.Mode)
	}
	if got.Ino != want.Ino {
		e.Add("ino %d != host %d", got.Ino, want.Ino)
	}
	if got.Nlink != want.Nlink {
		e.Add("nlink %d != host %d", got.Nlink, want.Nlink)
	}
	if got.UID != want.Uid || got.GID != want.Gid {
		e.Add("uid:gid %d:%d != host %d:%d", got.UID, got.GID, want.Uid, want.Gid)
	}
	if got.Size != want.Size {
		e.Add("size %d != host %d", got.Size, want.Size)
	}
	if got.Blocks != want.Blocks {
		e.Add("blocks %d != host %d", got.Blocks, want.Blocks)
	}
	if got.Blksize != want.Blksize {
		e.Add("blksize %d != host %d", got.Blksize, want.Blksize)
	}
	if got.DevMajor != want.Dev_major || got.DevMinor != want.Dev_minor {
		e.Add("dev %d:%d != host %d:%d", got.DevMajor, got.DevMinor, want.Dev_major, want.Dev_minor)
	}
	if got.RdevMajor != want.Rdev_major || got.RdevMinor != want.Rdev_minor {
		e.Add("rdev %d:%d != host %d:%d", got.RdevMajor, got.RdevMinor, want.Rdev_major, want.Rdev_minor)
	}
	if got.Mtime.Sec != want.Mtime.Sec || got.Mtime.Nsec != want.Mtime.Nsec {
		e.Add("mtime %d.%09d != host %d.%09d", got.Mtime.Sec, got.Mtime.Nsec, want.Mtime.Sec, want.Mtime.Nsec)
	}
	if got.Ctime.Sec != want.Ctime.Sec || got.Ctime.Nsec != want.Ctime.Nsec {
		e.Add("ctime %d.%09d != host %d.%09d", got.Ctime.Sec, got.Ctime.Nsec, want.Ctime.Sec, want.Ctime.Nsec)
	}
	if err := e.Err(); err != nil {
		return fmt.Errorf("%s (%s): %v", what, path, err)
	}
	return nil
}

func fdFlags(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
}

func closeHostFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// badFDID is an FD ID the server never handed out.
const badFDID = lisafs.FDID(0x7fff_0000)
