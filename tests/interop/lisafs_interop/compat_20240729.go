//go:build !gvisor_today

package main

// The client API of gVisor 20240729 (the default build). compat_today.go is
// the same surface for today's client (build tag gvisor_today).

import (
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/lisafs"
)

// clientGeneration names the gVisor release whose client this binary uses.
const clientGeneration = "20240729"

// today reports whether this binary drives today's client.
const today = false

// statx is the stat type the client returns.
type statx = linux.Statx

// connectSock is ClientFD.Connect.
func connectSock(fd *lisafs.ClientFD, sockType linux.SockType) (int, error) {
	return fd.Connect(ctx, sockType)
}

// renameAt is ClientFD.RenameAt.
func renameAt(fd *lisafs.ClientFD, oldName string, newDir lisafs.FDID, newName string) error {
	return fd.RenameAt(ctx, oldName, newDir, newName)
}

// runToday runs the checks of today's additions: none with this client.
func (s *Suite) runToday() {}
