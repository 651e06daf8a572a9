// Command lisafs_demo is the README's main job until the runsc drop-in lands:
// it starts dist/gofer on a directory, mounts it with gVisor's own lisafs
// client (channels and all), lists the root like `ls -l` and prints one file,
// every byte having crossed our gofer.
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/lisafs"

	"gofer/tests/interop/launcher"
)

func main() {
	gofer := flag.String("gofer", "dist/gofer", "path of our gofer")
	dir := flag.String("dir", "", "absolute directory to serve")
	cat := flag.String("cat", "", "file (relative to -dir) to print")
	flag.Parse()
	if err := run(*gofer, *dir, *cat); err != nil {
		fmt.Fprintf(os.Stderr, "lisafs_demo: %v\n", err)
		os.Exit(1)
	}
}

func run(gofer, dir, cat string) error {
	g, err := launcher.Start(launcher.Options{Server: launcher.Ours, OursBin: gofer, MountDir: dir, CPU: -1, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer g.Close(5 * time.Second)
	if err := g.StartChannels(); err != nil {
		return fmt.Errorf("StartChannels: %v", err)
	}
	ctx := context.Background()
	c := g.Client
	root := c.NewFD(g.Root.ControlFD)
	fmt.Printf("gVisor lisafs client mounted %s through %s (pid %d)\n", dir, gofer, g.Pid())

	openFD, _, err := root.OpenAt(ctx, unix.O_RDONLY)
	if err != nil {
		return fmt.Errorf("OpenAt(root): %v", err)
	}
	dirFD := c.NewFD(openFD)
	var names []string
	for {
		ents, err := dirFD.Getdents64(ctx, 64*1024)
		if err != nil {
			return fmt.Errorf("Getdents64: %v", err)
		}
		if len(ents) == 0 {
			break
		}
		for _, e := range ents {
			if n := string(e.Name); n != "." && n != ".." {
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	stats, err := walkStats(ctx, root, names)
	if err != nil {
		return err
	}
	for i, n := range names {
		st := stats[i]
		fmt.Printf("%s %3d %5d %5d %8d %s %s\n", modeString(uint32(st.Mode)), st.Nlink, st.UID, st.GID, st.Size,
			time.Unix(st.Mtime.Sec, 0).UTC().Format("2006-01-02 15:04"), n)
	}
	if cat == "" {
		return nil
	}
	status, inodes, err := root.WalkMultiple(ctx, strings.Split(cat, "/"))
	if err != nil || status != lisafs.WalkSuccess {
		return fmt.Errorf("walk %q: status %d, %v", cat, status, err)
	}
	file := c.NewFD(inodes[len(inodes)-1].ControlFD)
	fid, _, err := file.OpenAt(ctx, unix.O_RDONLY)
	if err != nil {
		return fmt.Errorf("OpenAt(%s): %v", cat, err)
	}
	buf := make([]byte, 64*1024)
	opened := c.NewFD(fid)
	n, err := opened.Read(ctx, buf, 0)
	if err != nil {
		return fmt.Errorf("Read(%s): %v", cat, err)
	}
	fmt.Printf("--- %s (%d bytes via PRead)\n%s", cat, n, buf[:n])
	return nil
}

// walkStats stats each name below dir with one WalkStat RPC per name.
func walkStats(ctx context.Context, dir lisafs.ClientFD, names []string) ([]linux.Statx, error) {
	out := make([]linux.Statx, len(names))
	for i, n := range names {
		st, err := dir.WalkStat(ctx, []string{n})
		if err != nil || len(st) != 1 {
			return nil, fmt.Errorf("WalkStat(%q): %v", n, err)
		}
		out[i] = st[0]
	}
	return out, nil
}

// modeString renders a mode like ls -l does.
func modeString(m uint32) string {
	kind := map[uint32]byte{unix.S_IFDIR: 'd', unix.S_IFLNK: 'l', unix.S_IFSOCK: 's', unix.S_IFIFO: 'p', unix.S_IFCHR: 'c', unix.S_IFBLK: 'b'}[m&unix.S_IFMT]
	if kind == 0 {
		kind = '-'
	}
	b := []byte{kind}
	for i := 8; i >= 0; i-- {
		if m&(1<<uint(i)) != 0 {
			b = append(b, "rwxrwxrwx"[8-i])
		} else {
			b = append(b, '-')
		}
	}
	return string(b)
}
