/* SPDX-License-Identifier: MIT */
/* fw_cfg: see fw_cfg.h. Written from QEMU docs/specs/fw_cfg.rst. */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "firmware/fw_cfg.h"

struct fwcfg_item {
	uint16_t key;
	uint32_t len;
	uint8_t *data;
	char name[FW_CFG_MAX_FILE_PATH]; /* files only; "" for fixed items */
};

struct fwcfg {
	const struct guest_mem *gm;
	pthread_mutex_t lock;
	struct fwcfg_item items[FWCFG_MAX_ITEMS];
	unsigned nr_items;
	unsigned nr_files;
	/* Guest-visible state, under lock. */
	uint16_t cur_key;
	const struct fwcfg_item *cur; /* NULL: unknown selector, reads 0 */
	uint32_t cur_off;
	uint32_t dma_addr_hi;
};

static struct fwcfg_item *fwcfg_find(struct fwcfg *fw, uint16_t key)
{
	for (unsigned i = 0; i < fw->nr_items; i++)
		if (fw->items[i].key == key)
			return &fw->items[i];
	return NULL;
}

/* Store a copy of data under key (replacing a previous value). */
static int fwcfg_set(struct fwcfg *fw, uint16_t key, const char *name, const void *data,
		     uint32_t len)
{
	if (len > FWCFG_MAX_ITEM_LEN)
		return -E2BIG;
	if (len && !data)
		return -EINVAL;
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, data, len);
	struct fwcfg_item *it = fwcfg_find(fw, key);
	if (!it) {
		if (fw->nr_items >= FWCFG_MAX_ITEMS) {
			free(copy);
			return -ENOSPC;
		}
		it = &fw->items[fw->nr_items++];
		it->key = key;
	}
	free(it->data);
	it->data = copy;
	it->len = len;
	snprintf(it->name, sizeof(it->name), "%s", name ? name : "");
	fw->cur = fwcfg_find(fw, fw->cur_key);
	return 0;
}

static void fwcfg_select_locked(struct fwcfg *fw, uint16_t key);

static int fwcfg_rebuild_dir(struct fwcfg *fw)
{
	size_t len = 4 + (size_t)fw->nr_files * sizeof(struct fw_cfg_file);
	uint8_t *dir = calloc(1, len);
	if (!dir)
		return -ENOMEM;
	uint32_t count = htobe32(fw->nr_files);
	memcpy(dir, &count, 4);
	struct fw_cfg_file *ent = (struct fw_cfg_file *)(void *)(dir + 4);
	for (unsigned i = 0; i < fw->nr_items; i++) {
		const struct fwcfg_item *it = &fw->items[i];
		if (it->key < FW_CFG_FILE_FIRST || it->key >= FW_CFG_FILE_FIRST + FWCFG_MAX_FILES)
			continue;
		struct fw_cfg_file f;
		memset(&f, 0, sizeof(f));
		f.size = htobe32(it->len);
		f.select = htobe16(it->key);
		memcpy(f.name, it->name, sizeof(f.name));
		memcpy(&ent[it->key - FW_CFG_FILE_FIRST], &f, sizeof(f));
	}
	int r = fwcfg_set(fw, FW_CFG_FILE_DIR, NULL, dir, (uint32_t)len);
	free(dir);
	return r;
}

int fwcfg_create(const struct guest_mem *gm, struct fwcfg **out)
{
	struct fwcfg *fw = calloc(1, sizeof(*fw));
	if (!fw)
		return -ENOMEM;
	fw->gm = gm;
	if (pthread_mutex_init(&fw->lock, NULL)) {
		free(fw);
		return -ENOMEM;
	}
	uint32_t id = htole32(FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	int r = fwcfg_set(fw, FW_CFG_SIGNATURE, NULL, "QEMU", FW_CFG_SIG_SIZE);
	if (!r)
		r = fwcfg_set(fw, FW_CFG_ID, NULL, &id, sizeof(id));
	if (!r)
		r = fwcfg_rebuild_dir(fw);
	if (r) {
		fwcfg_destroy(fw);
		return r;
	}
	/* After reset the signature is selected, as in QEMU. */
	fwcfg_select_locked(fw, FW_CFG_SIGNATURE);
	*out = fw;
	return 0;
}

void fwcfg_destroy(struct fwcfg *fw)
{
	if (!fw)
		return;
	for (unsigned i = 0; i < fw->nr_items; i++)
		free(fw->items[i].data);
	pthread_mutex_destroy(&fw->lock);
	free(fw);
}

void fwcfg_destroy_opaque(void *fw)
{
	fwcfg_destroy(fw);
}

int fwcfg_add_item(struct fwcfg *fw, uint16_t key, const void *data, uint32_t len)
{
	uint16_t k = key & (uint16_t)~FW_CFG_WRITE_CHANNEL;
	if (k != key || k == FW_CFG_SIGNATURE || k == FW_CFG_ID || k == FW_CFG_FILE_DIR ||
	    (k >= FW_CFG_FILE_FIRST && k < FW_CFG_FILE_FIRST + FWCFG_MAX_FILES) ||
	    k == FW_CFG_INVALID)
		return -EINVAL;
	pthread_mutex_lock(&fw->lock);
	int r = fwcfg_set(fw, key, NULL, data, len);
	pthread_mutex_unlock(&fw->lock);
	return r;
}

int fwcfg_add_u16(struct fwcfg *fw, uint16_t key, uint16_t v)
{
	uint16_t le = htole16(v);
	return fwcfg_add_item(fw, key, &le, sizeof(le));
}

int fwcfg_add_u32(struct fwcfg *fw, uint16_t key, uint32_t v)
{
	uint32_t le = htole32(v);
	return fwcfg_add_item(fw, key, &le, sizeof(le));
}

int fwcfg_add_u64(struct fwcfg *fw, uint16_t key, uint64_t v)
{
	uint64_t le = htole64(v);
	return fwcfg_add_item(fw, key, &le, sizeof(le));
}

int fwcfg_add_file(struct fwcfg *fw, const char *name, const void *data, uint32_t len,
		   uint16_t *key)
{
	if (!name || !*name || strlen(name) >= FW_CFG_MAX_FILE_PATH)
		return -EINVAL;
	pthread_mutex_lock(&fw->lock);
	int r = 0;
	for (unsigned i = 0; i < fw->nr_items; i++) {
		if (fw->items[i].name[0] && strcmp(fw->items[i].name, name) == 0) {
			r = -EEXIST;
			goto out;
		}
	}
	if (fw->nr_files >= FWCFG_MAX_FILES) {
		r = -ENOSPC;
		goto out;
	}
	uint16_t k = (uint16_t)(FW_CFG_FILE_FIRST + fw->nr_files);
	r = fwcfg_set(fw, k, name, data, len);
	if (r)
		goto out;
	fw->nr_files++;
	r = fwcfg_rebuild_dir(fw);
	if (r) {
		/* Drop the file again so the directory and the items agree. */
		fw->nr_files--;
		struct fwcfg_item *it = fwcfg_find(fw, k);
		free(it->data);
		*it = fw->items[--fw->nr_items];
		fw->cur = fwcfg_find(fw, fw->cur_key);
		goto out;
	}
	if (key)
		*key = k;
out:
	pthread_mutex_unlock(&fw->lock);
	return r;
}

/* --- guest side (all under fw->lock) --- */

static void fwcfg_select_locked(struct fwcfg *fw, uint16_t key)
{
	/* Bit 14 (write channel) is obsolete: items are read-only. The arch-local bit is kept. */
	fw->cur_key = key & (uint16_t)~FW_CFG_WRITE_CHANNEL;
	fw->cur = fwcfg_find(fw, fw->cur_key);
	fw->cur_off = 0;
}

static uint32_t fwcfg_remaining_locked(const struct fwcfg *fw)
{
	if (!fw->cur || fw->cur_off >= fw->cur->len)
		return 0;
	return fw->cur->len - fw->cur_off;
}

static uint8_t fwcfg_next_byte_locked(struct fwcfg *fw)
{
	if (!fwcfg_remaining_locked(fw))
		return 0;
	return fw->cur->data[fw->cur_off++];
}

void fwcfg_ctl_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct fwcfg *fw = opaque;
	uint8_t *out = data;
	memset(out, 0, len);
	if (off != 1)
		return; /* the selector is write-only */
	pthread_mutex_lock(&fw->lock);
	for (uint32_t i = 0; i < len; i++)
		out[i] = fwcfg_next_byte_locked(fw);
	pthread_mutex_unlock(&fw->lock);
}

void fwcfg_ctl_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct fwcfg *fw = opaque;
	const uint8_t *in = data;
	if (off != 0 || len == 0)
		return; /* data port writes are ignored (QEMU >= 2.4) */
	uint16_t key = in[0];
	if (len >= 2)
		key = (uint16_t)(key | (uint16_t)in[1] << 8);
	pthread_mutex_lock(&fw->lock);
	fwcfg_select_locked(fw, key);
	pthread_mutex_unlock(&fw->lock);
}

/* Run one FWCfgDmaAccess at guest address gpa. */
static void fwcfg_dma_run_locked(struct fwcfg *fw, uint64_t gpa)
{
	uint8_t *acc = gm_ptr_w(fw->gm, gpa, sizeof(struct fw_cfg_dma_access));
	if (!acc) {
		/* Nowhere to report the error: drop it. */
		log_rl(LOG_WARN, "fw_cfg: DMA descriptor at 0x%llx not in writable guest RAM",
		       (unsigned long long)gpa);
		return;
	}
	/* Each field fetched exactly once. */
	uint32_t control = be32toh(gm_load32(acc + offsetof(struct fw_cfg_dma_access, control)));
	uint32_t length = be32toh(gm_load32(acc + offsetof(struct fw_cfg_dma_access, length)));
	uint64_t address = be64toh(gm_load64(acc + offsetof(struct fw_cfg_dma_access, address)));
	gm_rmb();

	bool error = false;
	if (control & FW_CFG_DMA_CTL_SELECT)
		fwcfg_select_locked(fw, (uint16_t)(control >> 16));

	if (control & FW_CFG_DMA_CTL_WRITE) {
		/* No item is writable. */
		log_rl(LOG_DEBUG, "fw_cfg: DMA write to item 0x%x refused", fw->cur_key);
		error = true;
	} else if (control & FW_CFG_DMA_CTL_READ) {
		uint8_t *dst = length ? gm_ptr_w(fw->gm, address, length) : NULL;
		if (length && !dst) {
			log_rl(LOG_WARN,
			       "fw_cfg: DMA read of %u bytes to 0x%llx outside writable guest RAM",
			       length, (unsigned long long)address);
			error = true;
		} else if (length) {
			uint32_t n = MIN(length, fwcfg_remaining_locked(fw));
			if (n)
				memcpy(dst, fw->cur->data + fw->cur_off, n);
			/* Past the end of the item (or an unknown item) reads as zeros. */
			memset(dst + n, 0, length - n);
			fw->cur_off += n;
		}
	} else if (control & FW_CFG_DMA_CTL_SKIP) {
		fw->cur_off += MIN(length, fwcfg_remaining_locked(fw));
	}

	gm_wmb();
	/* Completion: control becomes 0, or just the error bit. */
	gm_store32(acc + offsetof(struct fw_cfg_dma_access, control),
		   htobe32(error ? FW_CFG_DMA_CTL_ERROR : 0));
}

void fwcfg_dma_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	(void)opaque;
	/* "QEMU CFG" as a big-endian 64-bit value: byte i of the register is byte i of the string. */
	static const char sig[8] = {'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G'};
	uint8_t *out = data;
	for (uint32_t i = 0; i < len; i++)
		out[i] = off + i < sizeof(sig) ? (uint8_t)sig[off + i] : 0;
}

void fwcfg_dma_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct fwcfg *fw = opaque;
	pthread_mutex_lock(&fw->lock);
	if (off == 0 && len == 8) {
		uint64_t be;
		memcpy(&be, data, 8);
		fw->dma_addr_hi = 0;
		fwcfg_dma_run_locked(fw, be64toh(be));
	} else if (len == 4 && (off == 0 || off == 4)) {
		uint32_t be;
		memcpy(&be, data, 4);
		if (off == 0) {
			fw->dma_addr_hi = be32toh(be);
		} else {
			uint64_t gpa = (uint64_t)fw->dma_addr_hi << 32 | be32toh(be);
			fw->dma_addr_hi = 0;
			fwcfg_dma_run_locked(fw, gpa);
		}
	} else {
		log_rl(LOG_DEBUG, "fw_cfg: ignored %u-byte DMA register write at +%llu", len,
		       (unsigned long long)off);
	}
	pthread_mutex_unlock(&fw->lock);
}

static const struct bus_ops fwcfg_ctl_ops = {.read = fwcfg_ctl_read, .write = fwcfg_ctl_write};
static const struct bus_ops fwcfg_dma_ops = {.read = fwcfg_dma_read, .write = fwcfg_dma_write};

int fwcfg_attach(struct fwcfg *fw, struct bus *pio)
{
	int r = bus_insert(pio, FWCFG_PIO_BASE, FWCFG_PIO_LEN, &fwcfg_ctl_ops, fw, "fw_cfg");
	if (r)
		return r;
	r = bus_insert(pio, FWCFG_PIO_DMA_BASE, FWCFG_PIO_DMA_LEN, &fwcfg_dma_ops, fw,
		       "fw_cfg-dma");
	if (r) {
		int r2 = bus_remove(pio, FWCFG_PIO_BASE, fw);
		(void)r2;
	}
	return r;
}
