#include "textflag.h"

// func CPU() uint32
TEXT ·CPU(SB), NOSPLIT, $0-4
	// RDPID RAX (F3 0F C7 /7): the Go assembler has no mnemonic for it.
	BYTE $0xF3; BYTE $0x0F; BYTE $0xC7; BYTE $0xF8
	ANDL $0xfff, AX
	MOVL AX, ret+0(FP)
	RET
