package cpuid

// CPU returns the number of the CPU this thread runs on: RDPID reads
// IA32_TSC_AUX, which Linux sets to (node << 12) | cpu on every CPU.
func CPU() uint32
