/* SPDX-License-Identifier: MIT */
/*
 * X11 keysyms (what RFB KeyEvent messages carry) to Linux input key codes (KEY_*), for a US
 * keyboard layout: a shifted symbol maps to the key that produces it ('!' -> KEY_1), since
 * viewers send the Shift press as its own event.
 */
#ifndef VIREO_BACKENDS_KEYMAP_H
#define VIREO_BACKENDS_KEYMAP_H

#include <stdint.h>

/* The KEY_* code, or 0 when the keysym has no key on a US keyboard. */
uint16_t keymap_keysym_to_linux(uint32_t keysym);

#endif
