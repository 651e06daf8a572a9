// Package cpuid tells which CPU the calling thread is on, cheaply enough to
// call once per round trip: the floor benchmark compares the CPU the server
// replied from with the CPU the client woke up on.
package cpuid
