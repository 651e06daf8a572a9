// Command goserver is the Go side of the floor benchmark (bench/floor): the
// server end of one flipcall channel, served the way gVisor's gofer serves a
// lisafs channel (lisafs.Connection.service: RecvFirst, then a SendRecv per
// reply), through gVisor's own pkg/flipcall. It stands in for the reference
// gofer with no per-request work of its own.
//
// Each request is 16 bytes (u64 sequence number, 8 bytes of zeros); the
// reply is 16 bytes: the sequence number back, then the CPU this thread
// replied from (u32) and a u32 zero. --work-us N spins N µs per request
// first. --lock-thread keeps the serving goroutine on one OS thread.
//
// The packet window comes from the client as an inherited FD:
//
//	goserver --fd 3 --offset 0 --length 4096 [--work-us N]
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"gvisor.dev/gvisor/pkg/flipcall"

	"gofer/bench/floor/cpuid"
)

func main() {
	fd := flag.Int("fd", 3, "packet window FD")
	off := flag.Int64("offset", 0, "packet window offset")
	length := flag.Int("length", 4096, "packet window length")
	workUs := flag.Float64("work-us", 0, "busy work per request, µs")
	lock := flag.Bool("lock-thread", false, "serve on one OS thread (runtime.LockOSThread): the goroutine cannot move to another thread")
	flag.Parse()
	if *lock {
		runtime.LockOSThread()
	}

	ep, err := flipcall.NewEndpoint(flipcall.ServerSide, flipcall.PacketWindowDescriptor{FD: *fd, Offset: *off, Length: *length})
	if err != nil {
		fmt.Fprintf(os.Stderr, "goserver: %v\n", err)
		os.Exit(1)
	}
	work := time.Duration(*workUs * 1e3)
	d := ep.Data()
	n, err := ep.RecvFirst()
	for err == nil {
		if n != 16 {
			fmt.Fprintf(os.Stderr, "goserver: request of %d bytes\n", n)
			os.Exit(1)
		}
		seq := binary.LittleEndian.Uint64(d[0:8])
		if work > 0 {
			for t := time.Now(); time.Since(t) < work; {
			}
		}
		binary.LittleEndian.PutUint64(d[0:8], seq)
		binary.LittleEndian.PutUint32(d[8:12], cpuid.CPU())
		binary.LittleEndian.PutUint32(d[12:16], 0)
		n, err = ep.SendRecv(16)
	}
	if _, ok := err.(flipcall.ShutdownError); !ok {
		fmt.Fprintf(os.Stderr, "goserver: %v\n", err)
		os.Exit(1)
	}
}
