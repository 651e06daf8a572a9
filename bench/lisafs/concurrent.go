package main

// The concurrency rows (issue 17): 1, 2, 4 and 8 client goroutines sharing
// one lisafs connection, as the sentry's tasks share their gofer's.

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/lisafs"

	"gofer/bench/internal/benchkit"
)

// The concurrent operations (row names: benchkit.ConcurrentName).
const (
	concFStat = "fstat"
	concPRead = "pread 4 KiB"
)

// wantChannels is how many channels the probe asks for: one per goroutine
// of the highest level.
const wantChannels = 8

// channelsGranted is, per server, the channel count of each run's main
// session after the probe (what the report prints).
var channelsGranted = map[string][]int{}

//go:linkname clientCreateChannel gvisor.dev/gvisor/pkg/lisafs.(*Client).createChannel
func clientCreateChannel(c *lisafs.Client) (unsafe.Pointer, error)

// clientField is the unexported field name of c, settable.
func clientField(c *lisafs.Client, name string) reflect.Value {
	f := reflect.ValueOf(c).Elem().FieldByName(name)
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}

// probeChannels asks the server for channels beyond what StartChannels made
// until it has wantChannels or the server refuses (ENOMEM: its limit), and
// puts the new ones in the client's pool, so that each concurrent goroutine
// gets a channel of its own if the server grants one. gVisor's client stops
// at min(4, max(2, GOMAXPROCS)) channels (lisafs/channel.go maxChannels),
// and both servers grant the same count (of their own CPUs); a goroutine
// that finds no free channel sends its RPC over the connection's socket,
// one at a time (Client.acquireCommunicator), as a sentry's tasks do. It
// returns the channels the client now has.
func probeChannels(c *lisafs.Client) (int, error) {
	mu := (*sync.Mutex)(unsafe.Pointer(clientField(c, "channelsMu").UnsafeAddr()))
	chans, avail := clientField(c, "channels"), clientField(c, "availableChannels")
	mu.Lock()
	have := chans.Len()
	mu.Unlock()
	for have < wantChannels {
		ch, err := clientCreateChannel(c)
		if err == unix.ENOMEM {
			break // the server's limit
		}
		if err != nil {
			return have, fmt.Errorf("Channel RPC %d: %w", have+1, err)
		}
		v := reflect.NewAt(chans.Type().Elem().Elem(), ch)
		mu.Lock()
		chans.Set(reflect.Append(chans, v))
		avail.Set(reflect.Append(avail, v))
		mu.Unlock()
		have++
	}
	return have, nil
}

// runConcurrent measures the concurrency rows on s: each goroutine has its
// own control FD (fstat) and open FD (pread) of readFile.
func runConcurrent(cfg config, s *session, server string, res benchkit.Results) error {
	fstat, pread := benchkit.ConcurrentSelected(concFStat), benchkit.ConcurrentSelected(concPRead)
	if !fstat && !pread {
		return nil
	}
	n, err := probeChannels(s.g.Client)
	if err != nil {
		return err
	}
	channelsGranted[server] = append(channelsGranted[server], n)

	top := benchkit.Levels[len(benchkit.Levels)-1]
	ctl := make([]*lisafs.ClientFD, top)
	rfd := make([]*lisafs.ClientFD, top)
	defer func() {
		// Closed, so the later rows see the FD table they always saw.
		var ids []lisafs.FDID
		for g := 0; g < top; g++ {
			for _, f := range []*lisafs.ClientFD{rfd[g], ctl[g]} {
				if f != nil {
					ids = append(ids, f.ID())
				}
			}
		}
		for i, id := range ids {
			s.g.Client.CloseFD(ctx, id, i == len(ids)-1)
		}
	}()
	for g := 0; g < top; g++ {
		if ctl[g], err = s.walk(readFile); err != nil {
			return err
		}
		id, hostFD, err := ctl[g].OpenAt(ctx, unix.O_RDONLY)
		if hostFD >= 0 {
			unix.Close(hostFD)
		}
		if err != nil {
			return fmt.Errorf("open %s: %w", readFile, err)
		}
		rfd[g] = s.fd(id)
	}
	stats := make([]linux.Statx, top)
	bufs := make([][]byte, top)
	for g := range bufs {
		bufs[g] = make([]byte, 4096)
	}
	for _, n := range benchkit.Levels {
		if fstat {
			if err := res.Concurrent(server, benchkit.ConcurrentName(concFStat, n), n, cfg.concWarmup, cfg.concTime, func(g int) error {
				return ctl[g].StatTo(ctx, &stats[g])
			}); err != nil {
				return err
			}
		}
		if pread {
			if err := res.Concurrent(server, benchkit.ConcurrentName(concPRead, n), n, cfg.concWarmup, cfg.concTime, func(g int) error {
				got, err := rfd[g].Read(ctx, bufs[g], 8192)
				if err == nil && got != 4096 {
					err = fmt.Errorf("read %d bytes", got)
				}
				return err
			}); err != nil {
				return err
			}
		}
	}
	return nil
}
