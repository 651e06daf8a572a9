package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/lisafs"

	"gofer/tests/interop/launcher"
)

// checkTimeout bounds a single check; a server that hangs fails the check and
// the rest of its configuration.
const checkTimeout = 30 * time.Second

// Totals accumulates results over all configurations.
type Totals struct {
	Pass, Fail int
	Failed     []string
}

// Suite runs the checks of one configuration against one gofer.
type Suite struct {
	cfg    *Config
	server string // launcher.Ours or launcher.Ref
	g      *launcher.Gofer
	fx     *Fixture
	totals *Totals
	broken string // non-empty once the server hung or died
	// verbose prints details of passing checks too.
	verbose bool
}

// isRef reports whether we are testing the reference gofer.
func (s *Suite) isRef() bool { return s.server == launcher.Ref }

func (s *Suite) report(name string, err error) {
	full := "[" + s.cfg.Name + "] " + name
	if err == nil {
		s.totals.Pass++
		fmt.Printf("ok   %s\n", full)
		return
	}
	s.totals.Fail++
	s.totals.Failed = append(s.totals.Failed, full)
	fmt.Printf("FAIL %s: %s\n", full, strings.ReplaceAll(err.Error(), "\n", "\n     "))
}

// Check runs fn as one named check and prints its result.
func (s *Suite) Check(name string, fn func() error) {
	if s.broken != "" {
		s.report(name, fmt.Errorf("not run: %s", s.broken))
		return
	}
	if s.g != nil && s.g.Exited() {
		s.broken = "server exited unexpectedly: " + s.g.ExitStatus()
		s.report(name, fmt.Errorf("not run: %s", s.broken))
		return
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		done <- fn()
	}()
	select {
	case err := <-done:
		s.report(name, err)
		if err != nil && s.g != nil && s.g.WaitExit(300*time.Millisecond) {
			// Don't cascade: the remaining checks of this configuration
			// are reported as not run.
			s.broken = "server died: " + s.g.ExitStatus()
			fmt.Printf("     (%s)\n", s.broken)
		}
	case <-time.After(checkTimeout):
		s.broken = fmt.Sprintf("check %q hung for %v", name, checkTimeout)
		s.report(name, errors.New("timed out (server hung?); killing the server"))
		if s.g != nil {
			s.g.Kill()
		}
	}
}

// Info prints an informational line that is neither a pass nor a failure.
func (s *Suite) Info(format string, args ...any) {
	fmt.Printf("info [%s] %s\n", s.cfg.Name, fmt.Sprintf(format, args...))
}

// errnoOf extracts a unix.Errno from err (0 if none).
func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

func errName(err error) string {
	if err == nil {
		return "success"
	}
	if e := errnoOf(err); e != 0 {
		return fmt.Sprintf("%s (%s)", unix.ErrnoName(e), e.Error())
	}
	return err.Error()
}

// wantErrno returns nil if err is one of the wanted errnos.
func wantErrno(err error, want ...unix.Errno) error {
	got := errnoOf(err)
	for _, w := range want {
		if err != nil && got == w {
			return nil
		}
	}
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = unix.ErrnoName(w)
	}
	return fmt.Errorf("got %s, want %s", errName(err), strings.Join(names, " or "))
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %s", what, errName(err))
}

// errs collects mismatches within one check.
type errs []string

func (e *errs) add(format string, args ...any) { *e = append(*e, fmt.Sprintf(format, args...)) }

func (e *errs) err() error {
	if len(*e) == 0 {
		return nil
	}
	return errors.New(strings.Join(*e, "; "))
}

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
func compareStat(what string, got linux.Statx, path string) error {
	want, err := hostStat(path)
	if err != nil {
		return fmt.Errorf("%s: host statx(%s): %v", what, path, err)
	}
	var e errs
	if got.Mask&statMaskBasic != statMaskBasic {
		e.add("mask %#x lacks basic stats %#x", got.Mask, statMaskBasic)
	}
	if got.Mode != want.Mode {
		e.add("mode %#o != host %#o", got.Mode, want.Mode)
	}
	if got.Ino != want.Ino {
		e.add("ino %d != host %d", got.Ino, want.Ino)
	}
	if got.Nlink != want.Nlink {
		e.add("nlink %d != host %d", got.Nlink, want.Nlink)
	}
	if got.UID != want.Uid || got.GID != want.Gid {
		e.add("uid:gid %d:%d != host %d:%d", got.UID, got.GID, want.Uid, want.Gid)
	}
	if got.Size != want.Size {
		e.add("size %d != host %d", got.Size, want.Size)
	}
	if got.Blocks != want.Blocks {
		e.add("blocks %d != host %d", got.Blocks, want.Blocks)
	}
	if got.Blksize != want.Blksize {
		e.add("blksize %d != host %d", got.Blksize, want.Blksize)
	}
	if got.DevMajor != want.Dev_major || got.DevMinor != want.Dev_minor {
		e.add("dev %d:%d != host %d:%d", got.DevMajor, got.DevMinor, want.Dev_major, want.Dev_minor)
	}
	if got.RdevMajor != want.Rdev_major || got.RdevMinor != want.Rdev_minor {
		e.add("rdev %d:%d != host %d:%d", got.RdevMajor, got.RdevMinor, want.Rdev_major, want.Rdev_minor)
	}
	if got.Mtime.Sec != want.Mtime.Sec || got.Mtime.Nsec != want.Mtime.Nsec {
		e.add("mtime %d.%09d != host %d.%09d", got.Mtime.Sec, got.Mtime.Nsec, want.Mtime.Sec, want.Mtime.Nsec)
	}
	if got.Ctime.Sec != want.Ctime.Sec || got.Ctime.Nsec != want.Ctime.Nsec {
		e.add("ctime %d.%09d != host %d.%09d", got.Ctime.Sec, got.Ctime.Nsec, want.Ctime.Sec, want.Ctime.Nsec)
	}
	if err := e.err(); err != nil {
		return fmt.Errorf("%s (%s): %v", what, path, err)
	}
	return nil
}

// fdStat returns fstat(2) of a host FD.
func fdStat(fd int) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstat(fd, &st)
	return st, err
}

// sameFile checks that host FD fd refers to host path.
func sameFile(fd int, path string) error {
	st, err := fdStat(fd)
	if err != nil {
		return fmt.Errorf("fstat(donated fd %d): %v", fd, err)
	}
	var want unix.Stat_t
	if err := unix.Lstat(path, &want); err != nil {
		return err
	}
	if st.Dev != want.Dev || st.Ino != want.Ino {
		return fmt.Errorf("donated fd is dev/ino %d/%d, %s is %d/%d", st.Dev, st.Ino, path, want.Dev, want.Ino)
	}
	return nil
}

func fdFlags(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
}

// checkNonblock verifies that a donated host FD is O_NONBLOCK: the
// reference marks every FD it donates non-blocking (lisafs fdTracker.DonateFD),
// and the sentry relies on that for FDs it may wait on.
func checkNonblock(what string, fd int) error {
	fl, err := fdFlags(fd)
	if err != nil {
		return fmt.Errorf("%s: fcntl(F_GETFL): %v", what, err)
	}
	if fl&unix.O_NONBLOCK == 0 {
		return fmt.Errorf("%s: donated FD flags %#o lack O_NONBLOCK", what, fl)
	}
	return nil
}

func closeHostFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// readHostFile returns a host file's content (fatal errors become "").
func readHostFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// badFDID is an FD ID the server never handed out.
const badFDID = lisafs.FDID(0x7fff_0000)
