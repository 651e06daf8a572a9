package main

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

// Fixture is the host tree served by the gofer under test.
//
//	a.txt              small file (aSize bytes), xattr user.greeting (if supported)
//	big.bin            bigSize bytes of pseudo-random data
//	d1/d2/d3/d4/f5     5-component path to a file
//	link -> a.txt      symlink
//	dlink -> d1        symlink to a directory
//	longlink           symlink with a longTarget-byte target
//	empty/             empty directory
//	many/              manyCount empty files f00000..f02999
//	fifo               named pipe
//	blk                block device (root only)
//	hostsock           listening Unix socket bound by this test (echo server)
//	sockdir/s          another one, in a directory the checks rename
//	deep/l01/.../l20/f 21 components from the root
//	mnt/inner.txt      a second tmpfs mounted inside the tree (root only)
//	scratch/           playground for mutations
type Fixture struct {
	Root       string
	cleanup    func()
	isRoot     bool
	HasBlk     bool
	HasMnt     bool
	RootDev    uint64
	UserXattrs bool
	socks      []int
	sockDone   []chan struct{}
}

const (
	aSize      = 4096 + 100
	bigSize    = 5<<20 + 123
	manyCount  = 3000
	longTarget = 3000
	f5Content  = "five components deep\n"
)

// Path returns the host path of a fixture-relative name.
func (f *Fixture) Path(rel ...string) string {
	return filepath.Join(append([]string{f.Root}, rel...)...)
}

func pattern(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func aContent() []byte {
	var sb strings.Builder
	for i := 0; sb.Len() < aSize; i++ {
		fmt.Fprintf(&sb, "line %04d of a.txt served by a 9P gofer\n", i)
	}
	return []byte(sb.String()[:aSize])
}

func bigContent() []byte { return pattern(bigSize, 9) }

func longTargetString() string {
	return strings.Repeat("0123456789/", longTarget/11+1)[:longTarget]
}

// NewFixture creates the tree in a fresh directory dir (on a fresh tmpfs when
// running as root).
func NewFixture(dir string) (*Fixture, error) {
	f := &Fixture{Root: dir, isRoot: os.Geteuid() == 0}
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

func (f *Fixture) populate() (err error) {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("populating fixture: %v", r)
		}
	}()
	must(os.WriteFile(f.Path("a.txt"), aContent(), 0o644))
	must(os.WriteFile(f.Path("big.bin"), bigContent(), 0o644))
	must(os.MkdirAll(f.Path("d1/d2/d3/d4"), 0o755))
	must(os.WriteFile(f.Path("d1/d2/d3/d4/f5"), []byte(f5Content), 0o600))
	must(os.Symlink("a.txt", f.Path("link")))
	must(os.Symlink("d1", f.Path("dlink")))
	must(os.Symlink(longTargetString(), f.Path("longlink")))
	must(os.Mkdir(f.Path("empty"), 0o755))
	must(os.Mkdir(f.Path("many"), 0o755))
	for i := 0; i < manyCount; i++ {
		fd, err := unix.Open(f.Path("many", fmt.Sprintf("f%05d", i)), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		must(err)
		unix.Close(fd)
	}
	must(unix.Mkfifo(f.Path("fifo"), 0o644))
	if f.isRoot {
		if unix.Mknod(f.Path("blk"), unix.S_IFBLK|0o600, int(unix.Mkdev(7, 200))) == nil {
			f.HasBlk = true
		}
	}
	must(os.MkdirAll(f.Path(deepPath()...), 0o755))
	must(os.WriteFile(f.Path(append(deepPath(), "f")...), []byte("deep"), 0o644))
	must(os.Mkdir(f.Path("scratch"), 0o777))
	must(os.Mkdir(f.Path("sockdir"), 0o755))
	if f.isRoot {
		must(os.Mkdir(f.Path("mnt"), 0o755))
		must(unix.Mount("tmpfs", f.Path("mnt"), "tmpfs", 0, "size=16m,mode=0755"))
		f.HasMnt = true
		must(os.WriteFile(f.Path("mnt", "inner.txt"), []byte("inner"), 0o644))
	}
	var st unix.Stat_t
	must(unix.Stat(f.Root, &st))
	f.RootDev = st.Dev
	fixtureRootDev = st.Dev
	f.UserXattrs = unix.Setxattr(f.Path("a.txt"), "user.greeting", []byte("hello"), 0) == nil
	must(f.listen(f.Path("hostsock")))
	must(f.listen(f.Path("sockdir", "s")))
	return nil
}

// listen binds path and serves "echo:<data>" to each connection.
func (f *Fixture) listen(path string) error {
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

// Destroy stops the socket servers and removes the tree.
func (f *Fixture) Destroy() {
	for i, s := range f.socks {
		unix.Shutdown(s, unix.SHUT_RDWR)
		unix.Close(s)
		<-f.sockDone[i]
	}
	f.socks, f.sockDone = nil, nil
	if f.HasMnt {
		unix.Unmount(f.Path("mnt"), unix.MNT_DETACH)
		f.HasMnt = false
	}
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
		desc += " xattrs=" + xattrDesc(p)
		rel, _ := filepath.Rel(f.Root, p)
		snap[rel] = desc
		return nil
	})
	return snap, err
}

func xattrDesc(p string) string {
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

// diffSnapshots describes the differences between two snapshots.
func diffSnapshots(before, after map[string]string) string {
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

// deepPath is deep/l01/.../l20.
func deepPath() []string {
	p := []string{"deep"}
	for i := 1; i <= 20; i++ {
		p = append(p, fmt.Sprintf("l%02d", i))
	}
	return p
}

// fixtureRootDev is the host device of the current fixture's root: QIDs of
// files on it carry device index 0 (the reference numbers devices in order
// of first sight, and the root is seen first, at Tattach).
var fixtureRootDev uint64
