package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"gofer/tests/interop/harness"
)

// manyCount is the number of empty files in the fixture's many/.
const manyCount = 3000

// tree is the host tree served by the gofer under test: harness.Fixture's
// tree and
//
//	sockdir/s          another listening socket, in a directory the checks rename
//	deep/l01/.../l20/f 21 components from the root
//	mnt/inner.txt      a second tmpfs mounted inside the tree (root only)
var tree = harness.Tree{Label: "9P", BigSeed: 9, ManyCount: manyCount, Extra: populate}

// populate adds this test's entries to the common tree.
func populate(f *harness.Fixture) {
	f.Must(os.MkdirAll(f.Path(deepPath()...), 0o755))
	f.Must(os.WriteFile(f.Path(append(deepPath(), "f")...), []byte("deep"), 0o644))
	f.Must(os.Mkdir(f.Path("sockdir"), 0o755))
	f.Must(f.Listen(f.Path("sockdir", "s")))
	if f.IsRoot {
		f.Must(os.Mkdir(f.Path("mnt"), 0o755))
		f.Must(f.MountTmpfs("mnt", "size=16m,mode=0755"))
		f.Must(os.WriteFile(f.Path("mnt", "inner.txt"), []byte("inner"), 0o644))
	}
	var st unix.Stat_t
	f.Must(unix.Stat(f.Root, &st))
	fixtureRootDev = st.Dev
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
