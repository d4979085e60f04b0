/* boot.h - load the guest's kernel and initrd, and lay out RAM for a hypervisor-style boot.
 *
 * The kernel is a RISC-V Linux `Image` (Documentation/riscv/boot-image-header.rst),
 * placed at RAM + 2 MiB. The device tree and the initrd go beyond the Image's
 * image_size (which includes its BSS). The hart starts in S-mode at the
 * Image with a0 = hart id and a1 = the device tree's address, satp = 0.
 */
#ifndef FERRY_BOOT_H
#define FERRY_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct machine;

#define BOOT_DTB_MAX (64 * 1024)

/* The Image header fields we check. */
struct boot_image_info {
	uint64_t text_offset;
	uint64_t image_size;
	uint32_t version;
};

/* Parse and check an Image header; len is the file size. */
int boot_parse_image(const uint8_t *img, size_t len, struct boot_image_info *info, struct err *e);

/* Read the kernel and initrd files named by the configuration into memory. */
int boot_read_files(struct machine *m, struct err *e);

/* Put the kernel, device tree and initrd into RAM (already zeroed) and reset the boot hart. */
int boot_place(struct machine *m, struct err *e);

#endif
