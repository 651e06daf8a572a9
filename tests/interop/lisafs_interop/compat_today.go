//go:build gvisor_today

package main

// The client API of today's gVisor (build tag gvisor_today; built in the
// environment of /opt/gvisor-ref/latest/env.sh by `lib.sh`'s
// gofer_go_build interop-today).

import (
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/lisafs"
)

// clientGeneration names the gVisor release whose client this binary uses.
const clientGeneration = "today"

// today reports whether this binary drives today's client.
const today = true

// statx is the stat type the client returns (today: lisafs's own, the same
// 144 bytes on the wire).
type statx = lisafs.Statx

// connectSock is ClientFD.Connect without credentials (plain Connect).
func connectSock(fd *lisafs.ClientFD, sockType linux.SockType) (int, error) {
	return fd.Connect(ctx, sockType, lisafs.NoUID, lisafs.NoGID)
}

// renameAt is ClientFD.RenameAt with flags 0 (plain RenameAt).
func renameAt(fd *lisafs.ClientFD, oldName string, newDir lisafs.FDID, newName string) error {
	return fd.RenameAt(ctx, oldName, newDir, newName, 0)
}
