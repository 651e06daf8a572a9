// The /proc umounter as a 186-byte static ELF instead of a third Bun
// process (~80 ms of CPU at every sandbox start, on the CPUs the sentry boots
// on). It does exactly what `gofer umount --sync-fd=3 /proc` does: wait for a
// byte (or EOF) on FD 3, detach /proc, exit 0, or 1 if umount2 failed.
//
// x86-64 only; elsewhere the gofer falls back to the Bun umounter.
//
//   1: xor eax,eax; mov edi,3; lea rsi,[rsp-8]; mov edx,1; syscall   read(3, sp-8, 1)
//      cmp rax,-4; je 1b                                             EINTR: again
//      mov eax,166; lea rdi,[rip+path]; mov esi,2; syscall           umount2("/proc", MNT_DETACH)
//      xor edi,edi; test rax,rax; setne dil                          status = rc != 0
//      mov eax,231; syscall                                          exit_group(status)
//   path: "/proc\0"
const CODE =
  "31c0bf03000000488d7424f8ba010000000f054883f8fc74e7b8a6000000488d3d17000000be020000000f0531ff4885c0400f95c7b8e70000000f052f70726f6300";

const EHDR = 64;
const PHDR = 56;
const BASE = 0x400000;

/** The program, or null where it is not built for this architecture. */
export function umounterElf(): Uint8Array | null {
  if (process.arch !== "x64") return null;
  const code = Buffer.from(CODE, "hex");
  const elf = new Uint8Array(EHDR + PHDR + code.byteLength);
  const v = new DataView(elf.buffer);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2 /* 64-bit */, 1 /* little-endian */, 1 /* version */], 0);
  v.setUint16(16, 2, true); // e_type: ET_EXEC
  v.setUint16(18, 62, true); // e_machine: EM_X86_64
  v.setUint32(20, 1, true); // e_version
  v.setBigUint64(24, BigInt(BASE + EHDR + PHDR), true); // e_entry: the code
  v.setBigUint64(32, BigInt(EHDR), true); // e_phoff
  v.setUint16(52, EHDR, true); // e_ehsize
  v.setUint16(54, PHDR, true); // e_phentsize
  v.setUint16(56, 1, true); // e_phnum
  // One PT_LOAD of the whole file, read + execute.
  v.setUint32(EHDR, 1, true); // p_type: PT_LOAD
  v.setUint32(EHDR + 4, 5, true); // p_flags: R|X
  v.setBigUint64(EHDR + 16, BigInt(BASE), true); // p_vaddr
  v.setBigUint64(EHDR + 24, BigInt(BASE), true); // p_paddr
  v.setBigUint64(EHDR + 32, BigInt(elf.byteLength), true); // p_filesz
  v.setBigUint64(EHDR + 40, BigInt(elf.byteLength), true); // p_memsz
  v.setBigUint64(EHDR + 48, 0x1000n, true); // p_align
  elf.set(code, EHDR + PHDR);
  return elf;
}
