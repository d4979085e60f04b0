/* sbi.h - the RISC-V Supervisor Binary Interface, served by the VMM (SBI spec 2.0).
 *
 * Extensions: BASE, TIME, IPI, RFENCE, HSM, SRST, and from the legacy (0.1)
 * set set_timer, console_putchar, console_getchar, clear_ipi and shutdown
 * (Linux 6.1's SBI console uses the legacy putchar). The legacy calls that
 * take a pointer to a hart mask (send_ipi, remote fences) answer
 * SBI_ERR_NOT_SUPPORTED: a guest that has BASE uses the v0.2 extensions.
 */
#ifndef FERRY_SBI_H
#define FERRY_SBI_H

#include <stdint.h>

struct cpu;
struct machine;

#define SBI_SPEC_VERSION 0x02000000 /* 2.0: major << 24 | minor */
#define SBI_IMPL_ID_FERRY 0xfe77    /* not in the spec's registry of implementation ids */
#define SBI_IMPL_VERSION 1

enum sbi_error {
	SBI_SUCCESS = 0,
	SBI_ERR_FAILED = -1,
	SBI_ERR_NOT_SUPPORTED = -2,
	SBI_ERR_INVALID_PARAM = -3,
	SBI_ERR_DENIED = -4,
	SBI_ERR_INVALID_ADDRESS = -5,
	SBI_ERR_ALREADY_AVAILABLE = -6,
	SBI_ERR_ALREADY_STARTED = -7,
	SBI_ERR_ALREADY_STOPPED = -8,
};

#define SBI_EXT_LEGACY_SET_TIMER 0x00
#define SBI_EXT_LEGACY_PUTCHAR 0x01
#define SBI_EXT_LEGACY_GETCHAR 0x02
#define SBI_EXT_LEGACY_CLEAR_IPI 0x03
#define SBI_EXT_LEGACY_SEND_IPI 0x04
#define SBI_EXT_LEGACY_SHUTDOWN 0x08
#define SBI_EXT_BASE 0x10
#define SBI_EXT_TIME 0x54494d45
#define SBI_EXT_IPI 0x735049
#define SBI_EXT_RFENCE 0x52464e43
#define SBI_EXT_HSM 0x48534d
#define SBI_EXT_SRST 0x53525354

/* Serve the ECALL the hart just executed from S-mode: a7 = extension, a6 = function,
 * a0..a5 = arguments; the result goes back in a0 (error) and a1 (value). */
void sbi_ecall(struct machine *m, struct cpu *c);

#endif
