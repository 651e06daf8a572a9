package harness

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Split turns "a/b/c" into path components ("" and "." give none).
func Split(rel string) []string {
	if rel == "" || rel == "." {
		return nil
	}
	return strings.Split(rel, "/")
}

// CompareBytes describes where got first differs from want (nil if equal).
func CompareBytes(what string, got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Errorf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
}

// DirentType converts a host file mode to a DT_* value.
func DirentType(mode uint32) uint8 {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return unix.DT_REG
	case unix.S_IFDIR:
		return unix.DT_DIR
	case unix.S_IFLNK:
		return unix.DT_LNK
	case unix.S_IFIFO:
		return unix.DT_FIFO
	case unix.S_IFSOCK:
		return unix.DT_SOCK
	case unix.S_IFCHR:
		return unix.DT_CHR
	case unix.S_IFBLK:
		return unix.DT_BLK
	}
	return unix.DT_UNKNOWN
}

// ReadHostFile returns a host file's content ("" if it cannot be read).
func ReadHostFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// HostExists reports whether path exists on the host (without following a
// final symlink).
func HostExists(path string) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil
}

// HostAbsent verifies that path does not exist on the host.
func HostAbsent(path string) error {
	if HostExists(path) {
		return fmt.Errorf("%s exists on the host", path)
	}
	return nil
}

// HostNames returns the names in a host directory. Like the reference, a
// gofer must not list "." and "..".
func HostNames(dir string) (map[string]bool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	return names, nil
}

// CheckMode verifies the host mode (type and permissions) of path.
func CheckMode(path string, mode uint32) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return err
	}
	if st.Mode != mode {
		return fmt.Errorf("%s: host mode %#o, want %#o", path, st.Mode, mode)
	}
	return nil
}

// CheckOwner verifies the host ownership of path (uid and gid may be
// lisafs or p9 IDs).
func CheckOwner[U, G ~uint32](path string, uid U, gid G) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return err
	}
	if st.Uid != uint32(uid) || st.Gid != uint32(gid) {
		return fmt.Errorf("%s: host owner %d:%d, want %d:%d", path, st.Uid, st.Gid, uid, gid)
	}
	return nil
}

// SameFile checks that the donated host FD fd refers to host path.
func SameFile(fd int, path string) error {
	var st, want unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat(donated fd %d): %v", fd, err)
	}
	if err := unix.Lstat(path, &want); err != nil {
		return err
	}
	if st.Dev != want.Dev || st.Ino != want.Ino {
		return fmt.Errorf("donated fd is dev/ino %d/%d, %s is %d/%d", st.Dev, st.Ino, path, want.Dev, want.Ino)
	}
	return nil
}

// CheckNonblock verifies that a donated host FD is O_NONBLOCK: the reference
// marks every FD it donates non-blocking (lisafs fdTracker.DonateFD, the 9P
// fsgofer's newFDMaybe and Connect), and the sentry relies on that for FDs
// it may wait on.
func CheckNonblock(what string, fd int) error {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("%s: fcntl(F_GETFL): %v", what, err)
	}
	if fl&unix.O_NONBLOCK == 0 {
		return fmt.Errorf("%s: donated FD flags %#o lack O_NONBLOCK", what, fl)
	}
	return nil
}
