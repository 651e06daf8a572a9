package main

import (
	"golang.org/x/sys/unix"

	"gofer/tests/interop/harness"
)

// manyCount is the number of empty files in the fixture's many/.
const manyCount = 10000

// tree is the host tree the gofer serves (see harness.Fixture), with a.txt
// also carrying xattr trusted.greeting when running as root.
var tree = harness.Tree{
	Label:     "lisafs",
	BigSeed:   42,
	ManyCount: manyCount,
	Extra: func(f *harness.Fixture) {
		unix.Setxattr(f.Path("a.txt"), "trusted.greeting", []byte("root only"), 0)
	},
}
