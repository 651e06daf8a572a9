// The /proc umounter as a static ELF of ~190 bytes instead of a third Bun
// process (~80 ms of CPU at every sandbox start, on the CPUs the sentry boots
// on). It does exactly what `gofer umount --sync-fd=3 /proc` does: wait for a
// byte (or EOF) on FD 3, detach /proc, exit 0, or 1 if umount2 failed.
//
// x86-64 and arm64; elsewhere the gofer falls back to the Bun umounter.
// Assembled with GNU as (x86_64-linux-gnu-as, aarch64-linux-gnu-as) from the
// listings; tests/umounter-elf.test.ts runs both, the arm64 one under qemu.

/** Machine code and ELF e_machine per architecture (process.arch names). */
const PROGRAMS: Record<string, { machine: number; code: string }> = {
  //   1: xor eax,eax; mov edi,3; lea rsi,[rsp-8]; mov edx,1; syscall   read(3, sp-8, 1)
  //      cmp rax,-4; je 1b                                             EINTR: again
  //      mov eax,166; lea rdi,[rip+path]; mov esi,2; syscall           umount2("/proc", MNT_DETACH)
  //      xor edi,edi; test rax,rax; setne dil                          status = rc != 0
  //      mov eax,231; syscall                                          exit_group(status)
  //   path: "/proc\0"
  x64: {
    machine: 62, // EM_X86_64
    code: "31c0bf03000000488d7424f8ba010000000f054883f8fc74e7b8a6000000488d3d17000000be020000000f0531ff4885c0400f95c7b8e70000000f052f70726f6300",
  },
  //      sub sp,sp,#16                                                 a byte to read into
  //   1: mov x0,#3; mov x1,sp; mov x2,#1; mov x8,#63; svc #0           read(3, sp, 1)
  //      cmn x0,#4; b.eq 1b                                            EINTR: again
  //      adr x0,path; mov x1,#2; mov x8,#39; svc #0                    umount2("/proc", MNT_DETACH)
  //      cmp x0,#0; cset w0,ne                                         status = rc != 0
  //      mov x8,#94; svc #0                                            exit_group(status)
  //   path: "/proc\0"
  arm64: {
    machine: 183, // EM_AARCH64
    code: "ff4300d1600080d2e1030091220080d2e80780d2010000d41f1000b140ffff5400010010410080d2e80480d2010000d41f0000f1e0079f1ac80b80d2010000d42f70726f6300",
  },
};

const EHDR = 64;
const PHDR = 56;
const BASE = 0x400000;

/** The program for `arch` (default: this process's), or null where there is
 * none. The code starts at file offset 120: 4-byte aligned, as arm64 needs. */
export function umounterElf(arch: string = process.arch): Uint8Array | null {
  const program = PROGRAMS[arch];
  if (!program) return null;
  const code = Buffer.from(program.code, "hex");
  const elf = new Uint8Array(EHDR + PHDR + code.byteLength);
  const v = new DataView(elf.buffer);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2 /* 64-bit */, 1 /* little-endian */, 1 /* version */], 0);
  v.setUint16(16, 2, true); // e_type: ET_EXEC
  v.setUint16(18, program.machine, true); // e_machine
  v.setUint32(20, 1, true); // e_version
  v.setBigUint64(24, BigInt(BASE + EHDR + PHDR), true); // e_entry: the code
  v.setBigUint64(32, BigInt(EHDR), true); // e_phoff
  v.setUint16(52, EHDR, true); // e_ehsize
  v.setUint16(54, PHDR, true); // e_phentsize
  v.setUint16(56, 1, true); // e_phnum
  // One PT_LOAD of the whole file, read + execute. BASE is 64 KiB aligned, so
  // arm64 kernels with 64 KiB pages map it too.
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
