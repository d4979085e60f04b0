/* uart.h - ns16550a UART: the guest's serial console.
 *
 * Registers as the 16550 data sheet names them (RBR/THR, IER, IIR/FCR, LCR,
 * MCR, LSR, MSR, SCR; DLL/DLM behind LCR.DLAB), one byte apart. Transmit is
 * immediate, so THR is always empty again by the time the guest looks; the
 * THR-empty interrupt is latched as the 16550 does it (raised when THR
 * empties or ETBEI is enabled, cleared by reading IIR or writing THR).
 */
#ifndef FERRY_UART_H
#define FERRY_UART_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/state.h"

struct console;
struct machine;

#define UART_FIFO 16

struct uart {
	/* device state */
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	uint8_t thre_ip; /* THR-empty interrupt latched */
	uint8_t rx[UART_FIFO];
	uint8_t rx_head, rx_len;

	/* links */
	struct console *con;
	struct machine *m;
	unsigned irq;
};

/* The UART's migratable state. */
extern const struct state_desc uart_state;

int uart_init(struct uart *u, struct machine *m, uint64_t base, unsigned irq, struct console *con,
	      struct err *e);

#endif
