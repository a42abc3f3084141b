// SPDX-License-Identifier: MIT
/*
 * Does the VM's CPU keep EFLAGS intact across CMPXCHG16B?
 *
 * QEMU 7.2's TCG (Debian 12's qemu-system-x86) calls its CMPXCHG16B helper
 * without first storing the translator's pending flags operation, so the
 * helper computes the flags with whatever operation the CPU state held at
 * the start of the translation block.  When that was "flags are literal"
 * (after POPF or IRET), the helper takes the source operand of the last
 * ADD as the whole EFLAGS image, bits such as DF, TF, NT, AC and VM
 * included.  In the guest kernel this is SLUB's per-CPU fast path
 * (this_cpu_cmpxchg128, no LOCK prefix) after an interrupt returned into it:
 * the next interrupt pushes the garbage flags and the VM dies of a double
 * fault (tests/vm/run explains the CPU model that avoids it).
 *
 * This program recreates that state in user space: POPF ends a translation
 * block with literal flags, the next block starts with ADD of a value with
 * only DF (bit 10) set and then CMPXCHG16B; PUSHF shows whether DF leaked.
 *
 * Exit 0: the CPU has no CMPXCHG16B, or it kept the flags; 1: it did not.
 */
#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>

#define EFLAGS_DF	0x400UL
#define ROUNDS		1000

/* uint64_t add_then_cmpxchg16b(uint64_t addend, void *mem16): the EFLAGS
 * image after `add addend` and a successful CMPXCHG16B on mem16 (0:0). */
__asm__(".text\n"
	".type add_then_cmpxchg16b, @function\n"
	"add_then_cmpxchg16b:\n"
	"	push	%rbx\n"
	"	xor	%eax, %eax\n"
	"	xor	%edx, %edx\n"
	"	mov	$1, %ebx\n"
	"	xor	%ecx, %ecx\n"
	"	xor	%r8d, %r8d\n"
	"	push	$0x202\n"
	"	popfq\n"		/* literal flags; TCG ends the block */
	"	add	%rdi, %r8\n"	/* TCG: flags source := addend */
	"	cmpxchg16b (%rsi)\n"
	"	pushfq\n"
	"	pop	%rax\n"
	"	pop	%rbx\n"
	"	ret\n"
	".size add_then_cmpxchg16b, .-add_then_cmpxchg16b\n");

uint64_t add_then_cmpxchg16b(uint64_t addend, void *mem16);

int main(void)
{
	static unsigned __int128 mem __attribute__((aligned(16)));
	unsigned int eax, ebx, ecx, edx;
	int bad = 0;

	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_CMPXCHG16B)) {
		printf("cmpxchg16b-flags: the CPU does not offer CMPXCHG16B\n");
		return 0;
	}
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t fl;

		mem = 0;
		fl = add_then_cmpxchg16b(EFLAGS_DF, &mem);
		if (fl & EFLAGS_DF) {
			if (!bad)
				printf("cmpxchg16b-flags: EFLAGS %#llx after add of %#lx: DF leaked in from the operand\n",
				       (unsigned long long)fl, EFLAGS_DF);
			bad++;
		}
	}
	printf("cmpxchg16b-flags: %d of %d rounds corrupted EFLAGS\n", bad, ROUNDS);
	return bad ? 1 : 0;
}
