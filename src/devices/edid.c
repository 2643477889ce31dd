/* SPDX-License-Identifier: MIT */
/* EDID 1.4 base block generation, from the VESA E-EDID standard's field layout. */
#include <string.h>
#include "base/util.h"
#include "devices/edid.h"

#define DESC_LEN 18u

/* Three letters packed as 5-bit values ('A' = 1), big-endian. */
static void put_vendor(uint8_t *p, const char id[3])
{
	uint16_t v = (uint16_t)(((id[0] - '@') << 10) | ((id[1] - '@') << 5) | (id[2] - '@'));
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Chromaticity coordinates as the 10-bit binary fractions EDID stores. */
static uint16_t chroma(double v)
{
	return (uint16_t)(v * 1024.0 + 0.5);
}

static void put_chromaticity(uint8_t *p)
{
	/* sRGB primaries and D65 white. */
	uint16_t c[8] = {chroma(0.640), chroma(0.330), chroma(0.300),  chroma(0.600),
			 chroma(0.150), chroma(0.060), chroma(0.3127), chroma(0.3290)};
	p[0] = (uint8_t)(((c[0] & 3) << 6) | ((c[1] & 3) << 4) | ((c[2] & 3) << 2) | (c[3] & 3));
	p[1] = (uint8_t)(((c[4] & 3) << 6) | ((c[5] & 3) << 4) | ((c[6] & 3) << 2) | (c[7] & 3));
	for (unsigned i = 0; i < 8; i++)
		p[2 + i] = (uint8_t)(c[i] >> 2);
}

struct timing {
	uint32_t clock_10khz;
	uint32_t hact, hblank, hfp, hsync;
	uint32_t vact, vblank, vfp, vsync;
	uint32_t hfreq_khz;
	uint32_t refresh;
};

/* CVT reduced-blanking style timings for w x h at 60 Hz (or less, when the 16-bit pixel clock
 * field would overflow). */
static void compute_timing(uint32_t w, uint32_t h, struct timing *t)
{
	t->hact = w;
	t->vact = h;
	t->hblank = 160;
	t->hfp = 48;
	t->hsync = 32;
	t->vfp = 3;
	/* The vsync width encodes the aspect ratio in CVT. */
	if (w * 3 == h * 4)
		t->vsync = 4;
	else if (w * 9 == h * 16)
		t->vsync = 5;
	else if (w * 10 == h * 16)
		t->vsync = 6;
	else
		t->vsync = 10;
	uint32_t refresh = 60;
	for (;;) {
		/* At least 460 us of vertical blanking. */
		double frame_us = 1e6 / refresh;
		double line_us = (frame_us - 460.0) / h;
		uint32_t vbi = (uint32_t)(460.0 / line_us) + 2;
		uint32_t vmin = t->vfp + t->vsync + 6;
		t->vblank = vbi > vmin ? vbi : vmin;
		uint64_t htotal = t->hact + t->hblank, vtotal = t->vact + t->vblank;
		uint64_t clock = (htotal * vtotal * refresh + 9999) / 10000;
		if (clock <= 0xffff || refresh <= 1) {
			t->clock_10khz = (uint32_t)MIN(clock, (uint64_t)0xffff);
			t->refresh = refresh;
			t->hfreq_khz = (uint32_t)((uint64_t)t->clock_10khz * 10 / htotal);
			return;
		}
		refresh--;
	}
}

static void put_dtd(uint8_t *p, const struct timing *t, uint32_t hmm, uint32_t vmm)
{
	p[0] = (uint8_t)t->clock_10khz;
	p[1] = (uint8_t)(t->clock_10khz >> 8);
	p[2] = (uint8_t)t->hact;
	p[3] = (uint8_t)t->hblank;
	p[4] = (uint8_t)(((t->hact >> 8) & 0xf) << 4 | ((t->hblank >> 8) & 0xf));
	p[5] = (uint8_t)t->vact;
	p[6] = (uint8_t)t->vblank;
	p[7] = (uint8_t)(((t->vact >> 8) & 0xf) << 4 | ((t->vblank >> 8) & 0xf));
	p[8] = (uint8_t)t->hfp;
	p[9] = (uint8_t)t->hsync;
	p[10] = (uint8_t)((t->vfp & 0xf) << 4 | (t->vsync & 0xf));
	p[11] = (uint8_t)(((t->hfp >> 8) & 3) << 6 | ((t->hsync >> 8) & 3) << 4 |
			  ((t->vfp >> 4) & 3) << 2 | ((t->vsync >> 4) & 3));
	p[12] = (uint8_t)hmm;
	p[13] = (uint8_t)vmm;
	p[14] = (uint8_t)(((hmm >> 8) & 0xf) << 4 | ((vmm >> 8) & 0xf));
	p[15] = 0;
	p[16] = 0;
	/* Digital separate sync, hsync positive, vsync negative (reduced blanking). */
	p[17] = 0x18 | 0x02;
}

static void put_text_desc(uint8_t *p, uint8_t tag, const char *s)
{
	memset(p, 0, DESC_LEN);
	p[3] = tag;
	size_t n = strnlen(s, 13);
	memcpy(p + 5, s, n);
	if (n < 13) {
		p[5 + n] = '\n';
		memset(p + 6 + n, ' ', 13 - n - 1);
	}
}

static void put_range_desc(uint8_t *p, const struct timing *t)
{
	memset(p, 0, DESC_LEN);
	p[3] = 0xfd;
	p[5] = (uint8_t)MIN(t->refresh, 50u);
	p[6] = 75;
	p[7] = 30;
	p[8] = (uint8_t)MIN(MAX(t->hfreq_khz + 1, 160u), 255u);
	/* Max pixel clock in 10 MHz units. */
	p[9] = (uint8_t)MIN(t->clock_10khz / 1000 + 1, 255u);
	p[10] = 0x01; /* range limits only */
	p[11] = '\n';
	memset(p + 12, ' ', 6);
}

void edid_build(uint8_t out[EDID_BLOCK_LEN], uint32_t w, uint32_t h, const char *name)
{
	static const uint8_t header[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
	struct timing t;

	w = MIN(MAX(w, 1u), EDID_MAX_DIM);
	h = MIN(MAX(h, 1u), EDID_MAX_DIM);
	memset(out, 0, EDID_BLOCK_LEN);
	memcpy(out, header, sizeof(header));
	put_vendor(out + 8, "VRO");
	out[10] = 0x01; /* product code 0x0001 */
	out[16] = 1;	/* week 1 */
	out[17] = 34;	/* 2024 (years since 1990) */
	out[18] = 1;	/* EDID 1.4 */
	out[19] = 4;
	out[20] = 0xa0; /* digital input, 8 bits per primary */
	/* Image size at 96 dpi, in cm (0.2646 mm per pixel). */
	uint32_t hmm = (uint32_t)(w * 0.2646 + 0.5), vmm = (uint32_t)(h * 0.2646 + 0.5);
	out[21] = (uint8_t)MIN(MAX((hmm + 5) / 10, 1u), 255u);
	out[22] = (uint8_t)MIN(MAX((vmm + 5) / 10, 1u), 255u);
	out[23] = 120;	/* gamma 2.2 */
	out[24] = 0x06; /* sRGB default, preferred timing is native, RGB 4:4:4 */
	put_chromaticity(out + 25);
	out[35] = 0x21; /* established: 640x480@60, 800x600@60 */
	out[36] = 0x08; /* 1024x768@60 */
	for (unsigned i = 38; i < 54; i++)
		out[i] = 0x01; /* no standard timings */
	compute_timing(w, h, &t);
	put_dtd(out + 54, &t, MIN(hmm, 4095u), MIN(vmm, 4095u));
	put_range_desc(out + 72, &t);
	put_text_desc(out + 90, 0xfc, name ? name : "vireo");
	put_text_desc(out + 108, 0xff, "0");
	out[126] = 0; /* no extension blocks */
	uint8_t sum = 0;
	for (unsigned i = 0; i < EDID_BLOCK_LEN - 1; i++)
		sum = (uint8_t)(sum + out[i]);
	out[127] = (uint8_t)(0x100 - sum);
}
