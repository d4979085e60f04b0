/* uart.c - ns16550a UART (the 16550 data sheet; Linux's 8250 driver is the client). */
#include "vmm/devices/uart.h"

#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "vmm/devices/console.h"
#include "vmm/board/dtb.h"
#include "vmm/board/machine.h"

enum {
	UART_RBR_THR_DLL = 0,
	UART_IER_DLM = 1,
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define IIR_NONE 0x01
#define IIR_THRE 0x02
#define IIR_RDA 0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define UART_CLOCK_HZ 3686400

static void uart_fill(struct uart *u)
{
	while (u->rx_len < UART_FIFO && console_has_input(u->con)) {
		u->rx[(u->rx_head + u->rx_len) % UART_FIFO] = (uint8_t)console_getc(u->con);
		u->rx_len++;
	}
}

static uint8_t uart_iir(const struct uart *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((u->ier & IER_ERBFI) && u->rx_len)
		return fifo | IIR_RDA;
	if ((u->ier & IER_ETBEI) && u->thre_ip)
		return fifo | IIR_THRE;
	return fifo | IIR_NONE;
}

static void uart_update_irq(struct uart *u)
{
	machine_set_irq(u->m, u->irq, (uart_iir(u) & IIR_NONE) == 0);
}

static void uart_input(void *opaque)
{
	struct uart *u = opaque;

	uart_fill(u);
	uart_update_irq(u);
}

static bool uart_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct uart *u = opaque;
	uint8_t v = 0;

	if (size != 1)
		return false;
	switch (off) {
	case UART_RBR_THR_DLL:
		if (u->lcr & LCR_DLAB) {
			v = u->dll;
		} else if (u->rx_len) {
			v = u->rx[u->rx_head];
			u->rx_head = (uint8_t)((u->rx_head + 1) % UART_FIFO);
			u->rx_len--;
			uart_fill(u);
		}
		break;
	case UART_IER_DLM:
		v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
		break;
	case UART_IIR_FCR:
		v = uart_iir(u);
		if ((v & 0x0f) == IIR_THRE)
			u->thre_ip = 0; /* reading IIR clears a THRE interrupt it reports */
		break;
	case UART_LCR:
		v = u->lcr;
		break;
	case UART_MCR:
		v = u->mcr;
		break;
	case UART_LSR:
		v = LSR_THRE | LSR_TEMT | (u->rx_len ? LSR_DR : 0);
		break;
	case UART_MSR:
		/* Modem lines: in loopback they follow MCR, otherwise DCD, DSR and CTS are up. */
		if (u->mcr & MCR_LOOP)
			v = (uint8_t)(((u->mcr & 0x0c) << 4) | ((u->mcr & 0x01) << 5) |
				      ((u->mcr & 0x02) << 3));
		else
			v = 0xb0;
		break;
	case UART_SCR:
		v = u->scr;
		break;
	default:
		return false;
	}
	*val = v;
	uart_update_irq(u);
	return true;
}

static bool uart_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct uart *u = opaque;
	uint8_t v = (uint8_t)val;

	if (size != 1)
		return false;
	switch (off) {
	case UART_RBR_THR_DLL:
		if (u->lcr & LCR_DLAB) {
			u->dll = v;
		} else {
			if (!(u->mcr & MCR_LOOP))
				console_write(u->con, &v, 1);
			u->thre_ip = 1; /* sent at once: THR is empty again */
		}
		break;
	case UART_IER_DLM:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
		} else {
			if ((v & IER_ETBEI) && !(u->ier & IER_ETBEI))
				u->thre_ip = 1;
			u->ier = v & 0x0f;
		}
		break;
	case UART_IIR_FCR:
		u->fcr = v & 0xc9;
		if (v & FCR_CLEAR_RX) {
			u->rx_len = 0;
			u->rx_head = 0;
		}
		break;
	case UART_LCR:
		u->lcr = v;
		break;
	case UART_MCR:
		u->mcr = v & 0x1f;
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* read-only */
	case UART_SCR:
		u->scr = v;
		break;
	default:
		return false;
	}
	uart_update_irq(u);
	return true;
}

static int uart_post_load(void *obj, struct err *e)
{
	struct uart *u = obj;

	(void)e;
	uart_update_irq(u);
	return 0;
}

static const struct state_field uart_fields[] = {
	STATE_FIELD_MASK(struct uart, ier, 0x0f),
	STATE_FIELD(struct uart, lcr),
	STATE_FIELD_MASK(struct uart, mcr, 0x1f),
	STATE_FIELD(struct uart, scr),
	STATE_FIELD(struct uart, dll),
	STATE_FIELD(struct uart, dlm),
	STATE_FIELD_MASK(struct uart, fcr, 0xc9),
	STATE_FIELD_MAX(struct uart, thre_ip, 1),
	STATE_ARRAY(struct uart, rx),
	STATE_FIELD_MAX(struct uart, rx_head, UART_FIFO - 1),
	STATE_FIELD_MAX(struct uart, rx_len, UART_FIFO),
};

const struct state_desc uart_state = {
	.name = "uart",
	.version = 1,
	.fields = uart_fields,
	.nfields = STATE_NFIELDS(uart_fields),
	.post_load = uart_post_load,
};

static const struct mmio_ops uart_ops = { .read = uart_read, .write = uart_write };

static int uart_fdt(void *opaque, struct machine *m, void *fdt)
{
	struct uart *u = opaque;
	char name[32];

	(void)m;
	snprintf(name, sizeof(name), "serial@%llx", (unsigned long long)MACHINE_UART_BASE);
	DTB_CHECK(fdt_begin_node(fdt, name));
	DTB_CHECK(fdt_property_string(fdt, "compatible", "ns16550a"));
	DTB_CHECK(dtb_reg(fdt, MACHINE_UART_BASE, 0x100));
	DTB_CHECK(fdt_property_u32(fdt, "clock-frequency", UART_CLOCK_HZ));
	DTB_CHECK(fdt_property_u32(fdt, "interrupts", u->irq));
	DTB_CHECK(fdt_property_u32(fdt, "interrupt-parent", DTB_PHANDLE_PLIC));
	DTB_CHECK(fdt_end_node(fdt));
	return 0;
}

static void uart_reset(void *opaque)
{
	struct uart *u = opaque;

	u->ier = u->lcr = u->mcr = u->scr = u->dll = u->dlm = u->fcr = 0;
	u->thre_ip = 0;
	u->rx_head = u->rx_len = 0;
	uart_update_irq(u);
}

int uart_init(struct uart *u, struct machine *m, uint64_t base, unsigned irq, struct console *con,
	      struct err *e)
{
	struct machine_dev dev = {
		.name = "uart",
		.opaque = u,
		.fdt = uart_fdt,
		.reset = uart_reset,
		.state = &uart_state,
	};

	memset(u, 0, sizeof(*u));
	u->con = con;
	u->m = m;
	u->irq = irq;
	con->on_input = uart_input;
	con->opaque = u;
	if (machine_add_region(m, "uart", base, 0x100, &uart_ops, u, e) < 0)
		return -1;
	return machine_add_dev(m, &dev, e);
}
