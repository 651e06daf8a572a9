package harness

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"gofer/tests/interop/launcher"
)

// Sizes and contents of the fixture tree.
const (
	ASize      = 4096 + 100
	BigSize    = 5<<20 + 123
	LongTarget = 3000
	F5Content  = "five components deep\n"
)

// Tree is what differs between the interop programs' fixture trees.
type Tree struct {
	// Label names the protocol in a.txt's lines ("served by a <Label> gofer").
	Label string
	// BigSeed seeds big.bin's pseudo-random content.
	BigSeed int64
	// ManyCount is the number of files in many/.
	ManyCount int
	// Extra, if set, adds a program's own entries (with Must, Listen and
	// MountTmpfs) after the common ones.
	Extra func(f *Fixture)
}

// Fixture is the host tree served by the gofer under test:
//
//	a.txt              small file (ASize bytes), xattr user.greeting (if supported)
//	big.bin            BigSize bytes of pseudo-random data
//	d1/d2/d3/d4/f5     5-component path to a file
//	link -> a.txt      symlink
//	dlink -> d1        symlink to a directory
//	longlink           symlink with a LongTarget-byte target
//	empty/             empty directory
//	many/              ManyCount empty files f00000, f00001, ...
//	fifo               named pipe
//	blk                block device (root only; gofers refuse to walk to it)
//	scratch/           playground for mutations
//	hostsock           listening Unix socket bound by this test (echo server)
//
// and what Tree.Extra adds.
type Fixture struct {
	Root string // mount dir served by the gofer
	Tree Tree
	// IsRoot: we run as root (tmpfs, chown, mknod).
	IsRoot bool
	HasBlk bool
	// UserXattrs reports whether the host filesystem supports user.* xattrs.
	UserXattrs bool

	cleanup  func()
	socks    []int
	sockDone []chan struct{}
	mounts   []string
}

// NewFixture creates the tree in a fresh directory dir (on a fresh tmpfs
// when running as root).
func NewFixture(dir string, t Tree) (*Fixture, error) {
	f := &Fixture{Root: dir, Tree: t, IsRoot: os.Geteuid() == 0}
	cleanup, _, err := launcher.MountScratch(dir)
	if err != nil {
		return nil, err
	}
	f.cleanup = cleanup
	if err := f.populate(); err != nil {
		f.Destroy()
		return nil, err
	}
	return f, nil
}

// Path returns the host path of a fixture-relative name.
func (f *Fixture) Path(rel ...string) string {
	return filepath.Join(append([]string{f.Root}, rel...)...)
}

// Pattern returns n pseudo-random bytes.
func Pattern(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// AContent is the content of a.txt.
func (f *Fixture) AContent() []byte {
	var sb strings.Builder
	for i := 0; sb.Len() < ASize; i++ {
		fmt.Fprintf(&sb, "line %04d of a.txt served by a %s gofer\n", i, f.Tree.Label)
	}
	return []byte(sb.String()[:ASize])
}

// BigContent is the content of big.bin.
func (f *Fixture) BigContent() []byte { return Pattern(BigSize, f.Tree.BigSeed) }

// LongTargetString is longlink's target.
func LongTargetString() string {
	return strings.Repeat("0123456789/", LongTarget/11+1)[:LongTarget]
}

// Must, in Tree.Extra, fails the fixture with err (if not nil).
func (f *Fixture) Must(err error) {
	if err != nil {
		panic(err)
	}
}

func (f *Fixture) populate() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("populating fixture: %v", r)
		}
	}()
	must := f.Must
	must(os.WriteFile(f.Path("a.txt"), f.AContent(), 0o644))
	must(os.WriteFile(f.Path("big.bin"), f.BigContent(), 0o644))
	must(os.MkdirAll(f.Path("d1/d2/d3/d4"), 0o755))
	must(os.WriteFile(f.Path("d1/d2/d3/d4/f5"), []byte(F5Content), 0o600))
	must(os.Symlink("a.txt", f.Path("link")))
	must(os.Symlink("d1", f.Path("dlink")))
	must(os.Symlink(LongTargetString(), f.Path("longlink")))
	must(os.Mkdir(f.Path("empty"), 0o755))
	must(os.Mkdir(f.Path("many"), 0o755))
	for i := 0; i < f.Tree.ManyCount; i++ {
		fd, err := unix.Open(f.Path("many", fmt.Sprintf("f%05d", i)), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		must(err)
		unix.Close(fd)
	}
	must(unix.Mkfifo(f.Path("fifo"), 0o644))
	if f.IsRoot {
		if unix.Mknod(f.Path("blk"), unix.S_IFBLK|0o600, int(unix.Mkdev(7, 200))) == nil {
			f.HasBlk = true
		}
	}
	must(os.Mkdir(f.Path("scratch"), 0o777))
	f.UserXattrs = unix.Setxattr(f.Path("a.txt"), "user.greeting", []byte("hello"), 0) == nil
	must(f.Listen(f.Path("hostsock")))
	if f.Tree.Extra != nil {
		f.Tree.Extra(f)
	}
	return nil
}

// Listen binds a Unix socket at path and serves "echo:<data>" to each
// connection until Destroy.
func (f *Fixture) Listen(path string) error {
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(s, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(s)
		return fmt.Errorf("bind %s: %w", path, err)
	}
	if err := unix.Listen(s, 16); err != nil {
		unix.Close(s)
		return err
	}
	done := make(chan struct{})
	f.socks = append(f.socks, s)
	f.sockDone = append(f.sockDone, done)
	go func() {
		defer close(done)
		for {
			c, _, err := unix.Accept4(s, unix.SOCK_CLOEXEC)
			if err != nil {
				return
			}
			buf := make([]byte, 256)
			n, _ := unix.Read(c, buf)
			if n > 0 {
				unix.Write(c, append([]byte("echo:"), buf[:n]...))
			}
			unix.Close(c)
		}
	}()
	return nil
}

// MountTmpfs mounts a tmpfs (mount options opts) on the fixture directory
// rel, until Destroy.
func (f *Fixture) MountTmpfs(rel, opts string) error {
	if err := unix.Mount("tmpfs", f.Path(rel), "tmpfs", 0, opts); err != nil {
		return err
	}
	f.mounts = append(f.mounts, f.Path(rel))
	return nil
}

// HasMount reports whether MountTmpfs mounted a tmpfs on rel.
func (f *Fixture) HasMount(rel string) bool {
	for _, m := range f.mounts {
		if m == f.Path(rel) {
			return true
		}
	}
	return false
}

// Destroy stops the socket servers and removes the tree.
func (f *Fixture) Destroy() {
	for i, s := range f.socks {
		unix.Shutdown(s, unix.SHUT_RDWR)
		unix.Close(s)
		<-f.sockDone[i]
	}
	f.socks, f.sockDone = nil, nil
	for _, m := range f.mounts {
		unix.Unmount(m, unix.MNT_DETACH)
	}
	f.mounts = nil
	if f.cleanup != nil {
		f.cleanup()
		f.cleanup = nil
	}
}

// Snapshot describes every entry of the tree except access times, so that
// two snapshots are equal iff nothing was modified.
func (f *Fixture) Snapshot() (map[string]string, error) {
	snap := map[string]string{}
	err := filepath.WalkDir(f.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("mode=%o uid=%d gid=%d size=%d nlink=%d ino=%d mtime=%d.%d ctime=%d.%d rdev=%d",
			st.Mode, st.Uid, st.Gid, st.Size, st.Nlink, st.Ino, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec, st.Rdev)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" sha=%x", sha256.Sum256(b))
		case unix.S_IFLNK:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " target=" + t
		}
		desc += " xattrs=" + XattrDesc(p)
		rel, _ := filepath.Rel(f.Root, p)
		snap[rel] = desc
		return nil
	})
	return snap, err
}

// XattrDesc lists a host file's xattrs and their values ("name=value,...").
func XattrDesc(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return "err:" + err.Error()
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	var parts []string
	for _, name := range names {
		if name == "" {
			continue
		}
		v := make([]byte, 4096)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			parts = append(parts, name+"=err")
			continue
		}
		parts = append(parts, name+"="+string(v[:m]))
	}
	return strings.Join(parts, ",")
}

// DiffSnapshots describes the differences between two snapshots.
func DiffSnapshots(before, after map[string]string) string {
	var diffs []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			diffs = append(diffs, "removed "+k)
		} else if v != w {
			diffs = append(diffs, fmt.Sprintf("changed %s: %s -> %s", k, v, w))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diffs = append(diffs, "added "+k)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 10 {
		diffs = append(diffs[:10], fmt.Sprintf("... and %d more", len(diffs)-10))
	}
	return strings.Join(diffs, "\n")
}
