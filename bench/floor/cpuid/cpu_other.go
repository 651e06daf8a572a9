//go:build !amd64

package cpuid

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// CPU returns the number of the CPU this thread runs on (getcpu(2)).
func CPU() uint32 {
	var cpu uint32
	unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0)
	return cpu
}
