/* boot.c - kernel and initrd loading, RAM layout, the boot hart's start state. */
#include "vmm/board/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/le.h"
#include "vmm/board/dtb.h"
#include "vmm/board/machine.h"

#define BOOT_IMAGE_MAGIC2 0x05435352u /* "RSC\x05" */
#define BOOT_IMAGE_HEADER 64
#define BOOT_MAX_FILE (1ull << 30)

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

int boot_parse_image(const uint8_t *img, size_t len, struct boot_image_info *info, struct err *e)
{
	if (len < BOOT_IMAGE_HEADER)
		return err_set(e, "too short for a RISC-V Image header (%zu bytes)", len);
	if (le_get_u32(img + 56) != BOOT_IMAGE_MAGIC2 && memcmp(img + 48, "RISCV\0\0\0", 8) != 0)
		return err_set(
		    e, "not a RISC-V Linux Image (no RSC\\x05 or RISCV magic in the header)");
	info->text_offset = le_get_u64(img + 8);
	info->image_size = le_get_u64(img + 16);
	info->version = le_get_u32(img + 32);
	if (le_get_u64(img + 24) & 1)
		return err_set(e, "big-endian Image, the machine is little-endian");
	if (info->image_size == 0)
		info->image_size = len; /* header version 0.1 without a size: the file is all */
	if (info->image_size < len)
		return err_set(
		    e, "corrupt Image header: image_size %llu is smaller than the file (%zu)",
		    (unsigned long long)info->image_size, len);
	if (info->image_size > BOOT_MAX_FILE)
		return err_set(e, "corrupt Image header: image_size %llu is implausible",
			       (unsigned long long)info->image_size);
	if (info->text_offset != MACHINE_KERNEL_OFFSET)
		return err_set(
		    e, "Image wants text_offset 0x%llx; this machine loads RV64 kernels at +0x%llx",
		    (unsigned long long)info->text_offset,
		    (unsigned long long)MACHINE_KERNEL_OFFSET);
	return 0;
}

static int boot_read_file(const char *what, const char *path, uint8_t **out, size_t *len,
			  struct err *e)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return err_errno(e, "cannot open %s '%s'", what, path);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, "%s '%s' is not a regular file", what, path);
	}
	if ((uint64_t)st.st_size > BOOT_MAX_FILE) {
		close(fd);
		return err_set(e, "%s '%s' is too large (%lld bytes)", what, path,
			       (long long)st.st_size);
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return err_set(e, "out of memory reading %s '%s'", what, path);
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			close(fd);
			return err_errno(e, "reading %s '%s'", what, path);
		}
		got += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
}

int boot_read_files(struct machine *m, struct err *e)
{
	struct boot_image_info info;

	if (!m->cfg.kernel)
		return err_set(e, "no kernel given (--kernel Image)");
	if (boot_read_file("kernel", m->cfg.kernel, &m->kernel_img, &m->kernel_len, e) < 0)
		return -1;
	if (boot_parse_image(m->kernel_img, m->kernel_len, &info, e) < 0)
		return err_prefix(e, "kernel '%s'", m->cfg.kernel);
	m->kernel_image_size = info.image_size;
	if (m->cfg.initrd &&
	    boot_read_file("initrd", m->cfg.initrd, &m->initrd_img, &m->initrd_len, e) < 0)
		return -1;
	return 0;
}

int boot_place(struct machine *m, struct err *e)
{
	uint64_t kaddr = m->ram.base + MACHINE_KERNEL_OFFSET;
	uint64_t kend = kaddr + m->kernel_image_size;
	/* A kernel built with STRICT_KERNEL_RWX (Debian's) reserves its image up to the next 2 MiB
	 * boundary and drops an initrd inside that reservation: the blobs go beyond it. */
	uint64_t dtb = align_up(kend, 0x200000);
	uint64_t initrd = align_up(dtb + BOOT_DTB_MAX, 0x1000);
	uint64_t end = initrd + m->initrd_len;
	uint8_t fdt[BOOT_DTB_MAX];
	int n;

	if (!ram_contains(&m->ram, kaddr, end - kaddr))
		return err_set(
		    e,
		    "--memory %lluM is too small: the kernel (%llu KiB with BSS), device tree "
		    "and initrd (%zu KiB) need %lluM",
		    (unsigned long long)(m->ram.size >> 20),
		    (unsigned long long)(m->kernel_image_size >> 10), m->initrd_len >> 10,
		    (unsigned long long)((end - m->ram.base + (1 << 20) - 1) >> 20));
	m->dtb_addr = dtb;
	m->initrd_start = m->initrd_len ? initrd : 0;
	m->initrd_end = m->initrd_len ? initrd + m->initrd_len : 0;

	n = dtb_build(m, fdt, sizeof(fdt), e);
	if (n < 0)
		return -1;
	ram_write(&m->ram, kaddr, m->kernel_img, m->kernel_len);
	ram_write(&m->ram, dtb, fdt, (uint64_t)n);
	if (m->initrd_len)
		ram_write(&m->ram, initrd, m->initrd_img, m->initrd_len);
	machine_reset_harts(m, kaddr, dtb);
	return 0;
}
