/* snapshot.c - save and restore a whole machine through the stream format. */
#include "vmm/state/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/fault.h"
#include "common/mac.h"
#include "common/hash.h"
#include "vmm/board/machine.h"
#include "common/state.h"
#include "vmm/core/isa.h"
#include "vmm/state/stream.h"

json_t *snapshot_config_json(struct machine *m, uint64_t lease_epoch)
{
	json_t *o = json_object(), *devs = json_array(), *macs = json_array(),
	       *disks = json_array();
	char isa[ISA_STR_MAX];

	isa_string(m->harts[0].ext, isa);
	json_set_u64(o, "memory", m->ram.size);
	json_set_int(o, "harts", (int)m->nharts);
	json_set_str(o, "isa", isa);
	json_set_str(o, "mmu", ISA_MMU);
	json_set_str(o, "clock", m->clock.mode == GCLOCK_ICOUNT ? "icount" : "host");
	for (int i = 0; i < m->ndevs; i++)
		if (m->devs[i].state)
			json_push(devs, json_text(m->devs[i].state->name));
	json_set(o, "devices", devs);
	/* What the guest sees of its devices besides their state: MACs and disk sizes. The
	 * host side (TAP names, image paths) belongs to the loading host's command line. */
	for (int i = 0; i < m->cfg.nnets; i++) {
		char mac[MAC_STR_LEN];

		mac_format(machine_mac(m, i), mac);
		json_push(macs, json_text(mac));
	}
	json_set(o, "macs", macs);
	for (int i = 0; i < m->cfg.ndisks; i++)
		json_push(disks, json_u64(machine_disk_capacity(m, i)));
	json_set(o, "disk_sectors", disks);
	/* Who owned the VM when this was written: a restore takes the lease only from that token
	 * (a save restored once, or one the VM ran on from, is stale). */
	if (lease_epoch)
		json_set_u64(o, "lease_epoch", lease_epoch);
	if (!devs || !macs || !disks) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int snapshot_config_text(struct machine *m, uint64_t lease_epoch, struct buf *out)
{
	json_t *o = snapshot_config_json(m, lease_epoch);
	int rc = json_encode_buf(o, out);

	json_decref(o);
	return rc;
}

static void snapshot_write_pages(struct machine *m, struct stream_writer *w)
{
	struct stream_pages sp;

	buf_init(&sp.b);
	stream_pages_begin(&sp, 0);
	for (uint64_t pfn = 0; pfn < m->ram.npages; pfn++) {
		const uint8_t *page = ram_ptr(&m->ram, m->ram.base + pfn * RAM_PAGE_SIZE);

		/* A snapshot loads into zeroed RAM: zero pages need not appear at all. */
		if (stream_page_is_zero(page))
			continue;
		stream_pages_add(&sp, pfn, page);
		if (sp.count == STREAM_PAGES_PER_RECORD) {
			stream_pages_end(&sp);
			stream_write_record(w, STREAM_PAGES, sp.b.p, sp.b.len);
			stream_pages_begin(&sp, 0);
		}
	}
	if (sp.count) {
		stream_pages_end(&sp);
		stream_write_record(w, STREAM_PAGES, sp.b.p, sp.b.len);
	}
	buf_free(&sp.b);
}

static void snapshot_write_devices(struct machine *m, struct stream_writer *w)
{
	struct buf rec;

	buf_init(&rec);
	for (int i = 0; i < snapshot_device_count(m); i++) {
		buf_reset(&rec);
		snapshot_save_device(m, i, &rec);
		stream_write_record(w, STREAM_DEVICE, rec.p, rec.len);
	}
	buf_free(&rec);
}

/* The directory of path, opened, and the file's name in it (at most NAME_MAX bytes). */
static int snapshot_dir(const char *path, char *name, size_t cap, struct err *e)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int dfd;

	if (strlen(path) >= sizeof(dir))
		return err_set(e, "snapshot path too long");
	snprintf(dir, sizeof(dir), "%s", path);
	if (slash)
		dir[slash > path ? (size_t)(slash - path) : 1] = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (snprintf(name, cap, "%s", slash ? slash + 1 : path) >= (int)cap || !*name)
		return err_set(e, "snapshot path '%s': no usable file name", path);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_errno(e, "cannot open the directory of '%s'", path);
	return dfd;
}

int snapshot_save(struct machine *m, const char *path, uint64_t lease_epoch, struct err *e)
{
	char name[256], tmp[300];
	struct stream_writer w;
	struct buf cfg, clk;
	int fd, dfd;

	dfd = snapshot_dir(path, name, sizeof(name), e);
	if (dfd < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	/* A copy of guest RAM: created here and now, mode 0600, never through a link someone
	 * left under the temporary name, never a file that existed (with its own mode and
	 * readers). A stale one from a save that died is removed first (the link itself, not
	 * what it points at). */
	if (unlinkat(dfd, tmp, 0) != 0 && errno != ENOENT) {
		err_errno(e, "cannot remove the stale %s.tmp", path);
		close(dfd);
		return -1;
	}
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0) {
		err_errno(e, "cannot create %s.tmp", path);
		if (fd >= 0) {
			close(fd);
			unlinkat(dfd, tmp, 0);
		}
		close(dfd);
		return -1;
	}
	stream_writer_init(&w, fd);
	stream_write_header(&w);
	buf_init(&cfg);
	if (snapshot_config_text(m, lease_epoch, &cfg) < 0) {
		buf_free(&cfg);
		close(fd);
		unlinkat(dfd, tmp, 0);
		close(dfd);
		return err_set(e, "out of memory for the configuration record");
	}
	stream_write_record(&w, STREAM_CONFIG, cfg.p, cfg.len);
	buf_free(&cfg);
	snapshot_write_pages(m, &w);
	fault_point("save-write", 0); /* the file is half written */
	snapshot_write_devices(m, &w);
	buf_init(&clk);
	stream_clock_encode(&clk, &(struct stream_clock){ .guest_ns = gclock_ns(&m->clock),
							  .realtime_ns = gclock_realtime_ns(),
							  .mode = (uint32_t)m->clock.mode });
	stream_write_record(&w, STREAM_CLOCK, clk.p, clk.len);
	buf_free(&clk);
	stream_write_record(&w, STREAM_END, NULL, 0);
	if (stream_writer_finish(&w, e) < 0 || fsync(fd) != 0) {
		if (!e->msg[0] || errno)
			err_errno(e, "writing %s.tmp", path);
		close(fd);
		unlinkat(dfd, tmp, 0);
		close(dfd);
		return -1;
	}
	close(fd);
	/* rename replaces whatever is at name (a link too: it is not followed). */
	if (renameat(dfd, tmp, dfd, name) != 0) {
		err_errno(e, "renaming %s.tmp to %s", path, path);
		unlinkat(dfd, tmp, 0);
		close(dfd);
		return -1;
	}
	/* Make the rename durable. */
	fsync(dfd);
	close(dfd);
	return 0;
}

static int snapshot_parse_config(const uint8_t *text, size_t len, struct snapshot_config *cfg,
				 json_t **out, struct err *e)
{
	json_t *j = json_parse((const char *)text, len, e);
	const char *isa = NULL, *clock = NULL;
	int64_t mem = 0, harts = 0;

	e->msg[0] = 0;
	if (!j)
		return err_prefix(e, "config record");
	if (json_get_int(j, "memory", &mem, e) != 1 || json_get_int(j, "harts", &harts, e) != 1 ||
	    json_get_str(j, "isa", &isa, e) != 1 || json_get_str(j, "clock", &clock, e) != 1) {
		json_free(j);
		if (!e->msg[0])
			err_set(e, "missing field");
		return err_prefix(e, "config record");
	}
	if (strlen(isa) >= ISA_STR_MAX || isa_parse(isa, &(unsigned){ 0 }, e) < 0) {
		if (strlen(isa) >= ISA_STR_MAX)
			err_set(e, "isa: %zu characters", strlen(isa));
		json_free(j);
		return err_prefix(e, "config record");
	}
	snprintf(cfg->isa, sizeof(cfg->isa), "%s", isa);
	if (harts < 1 || harts > MACHINE_MAX_HARTS || mem < (int64_t)MACHINE_MIN_RAM ||
	    (uint64_t)mem > MACHINE_MAX_RAM || mem % (1 << 20)) {
		err_set(e, "config record: %lld harts and %lld bytes of memory are not supported",
			(long long)harts, (long long)mem);
		json_free(j);
		return -1;
	}
	if (strcmp(clock, "host") != 0 && strcmp(clock, "icount") != 0) {
		err_set(e, "config record: unknown clock '%s'", clock);
		json_free(j);
		return -1;
	}
	int64_t epoch = 0;

	if (json_get_int(j, "lease_epoch", &epoch, e) < 0 || epoch < 0) {
		err_set(e, "config record: bad lease_epoch");
		json_free(j);
		return -1;
	}
	cfg->lease_epoch = (uint64_t)epoch;
	cfg->mem_size = (uint64_t)mem;
	cfg->harts = (unsigned)harts;
	cfg->clock = strcmp(clock, "icount") == 0 ? GCLOCK_ICOUNT : GCLOCK_HOST;
	if (out)
		*out = j;
	else
		json_free(j);
	return 0;
}

int snapshot_file_open(const char *path, struct snapshot_file *f, struct err *e)
{
	struct stream_versions v;
	struct stat st;
	uint32_t type;

	memset(f, 0, sizeof(*f));
	buf_init(&f->cfgrec);
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (f->fd < 0)
		return err_errno(e, "cannot open snapshot '%s'", path);
	if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err_set(e, "snapshot '%s' is not a regular file", path);
		goto fail;
	}
	if (stream_read_header(f->fd, &v, e) < 0)
		goto fail;
	if (stream_read_record(f->fd, &type, &f->cfgrec, e) < 0)
		goto fail;
	if (type != STREAM_CONFIG) {
		err_set(e, "first record is %s, expected config", stream_type_name(type));
		goto fail;
	}
	if (snapshot_parse_config(f->cfgrec.p, f->cfgrec.len, &f->cfg, NULL, e) < 0)
		goto fail;
	return 0;
fail:
	err_prefix(e, "snapshot '%s'", path);
	snapshot_file_close(f);
	return -1;
}

void snapshot_file_close(struct snapshot_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	buf_free(&f->cfgrec);
}

int snapshot_read_config(const char *path, struct snapshot_config *cfg, struct err *e)
{
	struct snapshot_file f;

	if (snapshot_file_open(path, &f, e) < 0)
		return -1;
	*cfg = f.cfg;
	snapshot_file_close(&f);
	return 0;
}

static int snapshot_check_devices(struct machine *m, const json_t *j, struct err *e)
{
	const json_t *devs = json_get(j, "devices");
	size_t n = 0;

	if (!json_is_array(devs))
		return err_set(e, "config record: no device list");
	for (int i = 0; i < m->ndevs; i++) {
		const json_t *d = json_array_get(devs, n);

		if (!m->devs[i].state)
			continue;
		if (!json_is_string(d) || strcmp(json_string_value(d), m->devs[i].state->name) != 0)
			return err_set(e,
				       "config record: devices differ from this machine's (at %s)",
				       m->devs[i].state->name);
		n++;
	}
	if (n != json_array_size(devs))
		return err_set(e, "config record: %zu devices, this machine has %zu",
			       json_array_size(devs), n);

	const json_t *macs = json_get(j, "macs"), *disks = json_get(j, "disk_sectors");

	/* json_array_size is 0 for what is not an array */
	if (!json_is_array(macs) || json_array_size(macs) != (size_t)m->cfg.nnets)
		return err_set(e, "config record: %zu network devices, this machine has %d",
			       json_array_size(macs), m->cfg.nnets);
	for (int i = 0; i < m->cfg.nnets; i++) {
		const json_t *mac = json_array_get(macs, (size_t)i);
		const uint8_t *a = machine_mac(m, i);
		uint8_t theirs[MAC_LEN];
		char mine[MAC_STR_LEN];

		mac_format(a, mine);
		if (!json_is_string(mac))
			return err_set(e, "config record: network %d: the MAC is not a string", i);
		if (mac_parse(json_string_value(mac), theirs, e) < 0)
			return err_prefix(e, "config record: network %d", i);
		if (memcmp(theirs, a, MAC_LEN) != 0)
			return err_set(e, "config record: network %d has MAC %s, this machine %s",
				       i, json_string_value(mac), mine);
	}
	if (!json_is_array(disks) || json_array_size(disks) != (size_t)m->cfg.ndisks)
		return err_set(e, "config record: %zu disks, this machine has %d",
			       json_array_size(disks), m->cfg.ndisks);
	for (int i = 0; i < m->cfg.ndisks; i++) {
		const json_t *d = json_array_get(disks, (size_t)i);

		if (!json_is_integer(d) ||
		    (uint64_t)json_integer_value(d) != machine_disk_capacity(m, i))
			return err_set(
			    e, "config record: disk %d has %lld sectors, this machine's %llu", i,
			    (long long)json_integer_value(d),
			    (unsigned long long)machine_disk_capacity(m, i));
	}
	return 0;
}

static int snapshot_load_pages(struct machine *m, const struct buf *rec, struct err *e)
{
	struct stream_page_sink sink = { .ram = &m->ram };

	return stream_pages_decode(rec->p, rec->len, m->ram.npages, stream_page_apply_cb, &sink, e);
}

int snapshot_config_check(struct machine *m, const uint8_t *text, size_t len, struct err *e)
{
	struct snapshot_config cfg;
	json_t *cj = NULL;
	int rc;

	if (snapshot_parse_config(text, len, &cfg, &cj, e) < 0)
		return -1;
	/* The guest keeps the ISA it booted with, if this machine offers it. */
	unsigned ext;

	if (isa_check(cfg.isa, m->isa_offered, &ext, e) < 0) {
		json_free(cj);
		return -1;
	}
	for (unsigned i = 0; i < m->nharts; i++)
		m->harts[i].ext = ext;
	if (cfg.harts != m->nharts) {
		json_free(cj);
		return err_set(e, "the guest has %u hart%s, this machine %u (--cpus)", cfg.harts,
			       cfg.harts == 1 ? "" : "s", m->nharts);
	}
	if (cfg.mem_size != m->ram.size) {
		json_free(cj);
		return err_set(e, "guest memory %lluM, this machine %lluM",
			       (unsigned long long)(cfg.mem_size >> 20),
			       (unsigned long long)(m->ram.size >> 20));
	}
	rc = snapshot_check_devices(m, cj, e);
	json_free(cj);
	return rc;
}

int snapshot_device_count(struct machine *m)
{
	int n = (int)m->nharts; /* the harts, in the order of their ids */

	for (int i = 0; i < m->ndevs; i++)
		n += m->devs[i].state != NULL;
	return n;
}

void snapshot_save_device(struct machine *m, int index, struct buf *out)
{
	int k = 0;

	if (index < (int)m->nharts) {
		state_save(&cpu_state, &m->harts[index], out);
		return;
	}
	k = (int)m->nharts - 1;
	for (int i = 0; i < m->ndevs; i++)
		if (m->devs[i].state && ++k == index)
			state_save(m->devs[i].state, machine_dev_state(&m->devs[i]), out);
}

int snapshot_load_device(struct machine *m, int index, const uint8_t *p, size_t len, struct err *e)
{
	const struct state_desc *d = NULL;
	void *obj = NULL;
	struct rbuf r;
	int k = 0;

	if (index < (int)m->nharts) {
		d = &cpu_state;
		obj = &m->harts[index];
	} else {
		k = (int)m->nharts - 1;
		for (int i = 0; i < m->ndevs; i++) {
			if (m->devs[i].state && ++k == index) {
				d = m->devs[i].state;
				obj = machine_dev_state(&m->devs[i]);
				break;
			}
		}
	}
	if (!d)
		return err_set(e, "more device records than devices");
	rbuf_init(&r, p, len);
	if (state_load(d, obj, &r, e) < 0)
		return -1;
	if (rbuf_left(&r))
		return err_set(e, "device '%s': %zu bytes after its last field", d->name,
			       rbuf_left(&r));
	if (d == &cpu_state && ((struct cpu *)obj)->hartid != (uint32_t)index)
		return err_set(e, "hart record %d holds hart %u", index,
			       ((struct cpu *)obj)->hartid);
	return 0;
}

int snapshot_file_load(struct machine *m, struct snapshot_file *f, struct err *e)
{
	struct buf rec;
	uint32_t type;
	int fd = f->fd, rc = -1, ndev = 0, seen_clock = 0;
	const char *path = f->path;

	buf_init(&rec);
	if (fd < 0) {
		err_set(e, "not open");
		goto out;
	}
	if (snapshot_config_check(m, f->cfgrec.p, f->cfgrec.len, e) < 0)
		goto out;
	for (;;) {
		if (stream_read_record(fd, &type, &rec, e) < 0)
			goto out;
		if (type == STREAM_END)
			break;
		if (type == STREAM_PAGES) {
			if (ndev) {
				err_set(e, "pages record after the device state");
				goto out;
			}
			if (snapshot_load_pages(m, &rec, e) < 0)
				goto out;
		} else if (type == STREAM_DEVICE) {
			if (snapshot_load_device(m, ndev, rec.p, rec.len, e) < 0)
				goto out;
			ndev++;
		} else if (type == STREAM_CLOCK) {
			struct stream_clock clk;

			if (seen_clock) {
				err_set(e, "a second clock record");
				goto out;
			}
			if (stream_clock_decode(rec.p, rec.len, &clk, e) < 0)
				goto out;
			/* A restored machine resumes at its saved guest time. */
			gclock_set_ns(&m->clock, clk.guest_ns);
			seen_clock = 1;
		} else {
			err_set(e, "unexpected %s record", stream_type_name(type));
			goto out;
		}
	}
	if (!seen_clock) {
		err_set(e, "no clock record");
		goto out;
	}
	int want = snapshot_device_count(m);

	if (ndev != want) {
		err_set(e, "%d device records, expected %d", ndev, want);
		goto out;
	}
	/* Nothing may follow END. */
	char extra;

	if (read(fd, &extra, 1) != 0) {
		err_set(e, "data after the end record");
		goto out;
	}
	machine_update_timer(m);
	rc = 0;
out:
	if (rc < 0)
		err_prefix(e, "snapshot '%s'", path);
	buf_free(&rec);
	return rc;
}

int snapshot_load(struct machine *m, const char *path, struct err *e)
{
	struct snapshot_file f;
	int rc;

	if (snapshot_file_open(path, &f, e) < 0)
		return -1;
	rc = snapshot_file_load(m, &f, e);
	snapshot_file_close(&f);
	return rc;
}

uint64_t snapshot_dev_hash(struct machine *m)
{
	struct buf b;
	uint64_t h;

	/* Every device's section as a snapshot holds them, one after another. */
	buf_init(&b);
	for (int i = 0; i < snapshot_device_count(m); i++)
		snapshot_save_device(m, i, &b);
	h = hash_bytes(b.p, b.len);
	buf_free(&b);
	return h;
}

uint64_t snapshot_hart_hash(struct machine *m, int hart)
{
	struct buf b;
	uint64_t h;

	buf_init(&b);
	for (int i = 0; i < (int)m->nharts; i++)
		if (hart < 0 || hart == i)
			snapshot_save_device(m, i, &b);
	h = hash_bytes(b.p, b.len);
	buf_free(&b);
	return h;
}

void snapshot_hash(struct machine *m, uint64_t *ram_hash_out, uint64_t *dev_hash)
{
	*ram_hash_out = ram_hash(&m->ram);
	*dev_hash = snapshot_dev_hash(m);
}
