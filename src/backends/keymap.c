/* SPDX-License-Identifier: MIT */
/* Keysym -> Linux key code for a US layout: see keymap.h. */
#include <linux/input-event-codes.h>
#include <rfb/keysym.h>
#include "backends/keymap.h"
#include "base/util.h"

struct keymap_entry {
	uint32_t keysym;
	uint16_t code;
};

/* clang-format off */
static const struct keymap_entry keymap_table[] = {
	{XK_space, KEY_SPACE},
	{XK_exclam, KEY_1}, {XK_at, KEY_2}, {XK_numbersign, KEY_3}, {XK_dollar, KEY_4},
	{XK_percent, KEY_5}, {XK_asciicircum, KEY_6}, {XK_ampersand, KEY_7},
	{XK_asterisk, KEY_8}, {XK_parenleft, KEY_9}, {XK_parenright, KEY_0},
	{XK_minus, KEY_MINUS}, {XK_underscore, KEY_MINUS},
	{XK_equal, KEY_EQUAL}, {XK_plus, KEY_EQUAL},
	{XK_bracketleft, KEY_LEFTBRACE}, {XK_braceleft, KEY_LEFTBRACE},
	{XK_bracketright, KEY_RIGHTBRACE}, {XK_braceright, KEY_RIGHTBRACE},
	{XK_semicolon, KEY_SEMICOLON}, {XK_colon, KEY_SEMICOLON},
	{XK_apostrophe, KEY_APOSTROPHE}, {XK_quotedbl, KEY_APOSTROPHE},
	{XK_grave, KEY_GRAVE}, {XK_asciitilde, KEY_GRAVE},
	{XK_backslash, KEY_BACKSLASH}, {XK_bar, KEY_BACKSLASH},
	{XK_comma, KEY_COMMA}, {XK_less, KEY_COMMA},
	{XK_period, KEY_DOT}, {XK_greater, KEY_DOT},
	{XK_slash, KEY_SLASH}, {XK_question, KEY_SLASH},
	{XK_BackSpace, KEY_BACKSPACE}, {XK_Tab, KEY_TAB}, {XK_ISO_Left_Tab, KEY_TAB},
	{XK_Return, KEY_ENTER}, {XK_Escape, KEY_ESC}, {XK_Delete, KEY_DELETE},
	{XK_Insert, KEY_INSERT}, {XK_Home, KEY_HOME}, {XK_End, KEY_END},
	{XK_Page_Up, KEY_PAGEUP}, {XK_Page_Down, KEY_PAGEDOWN},
	{XK_Left, KEY_LEFT}, {XK_Up, KEY_UP}, {XK_Right, KEY_RIGHT}, {XK_Down, KEY_DOWN},
	{XK_Shift_L, KEY_LEFTSHIFT}, {XK_Shift_R, KEY_RIGHTSHIFT},
	{XK_Control_L, KEY_LEFTCTRL}, {XK_Control_R, KEY_RIGHTCTRL},
	{XK_Alt_L, KEY_LEFTALT}, {XK_Alt_R, KEY_RIGHTALT}, {XK_ISO_Level3_Shift, KEY_RIGHTALT},
	{XK_Meta_L, KEY_LEFTMETA}, {XK_Meta_R, KEY_RIGHTMETA},
	{XK_Super_L, KEY_LEFTMETA}, {XK_Super_R, KEY_RIGHTMETA},
	{XK_Caps_Lock, KEY_CAPSLOCK}, {XK_Num_Lock, KEY_NUMLOCK},
	{XK_Scroll_Lock, KEY_SCROLLLOCK}, {XK_Print, KEY_SYSRQ}, {XK_Sys_Req, KEY_SYSRQ},
	{XK_Pause, KEY_PAUSE}, {XK_Break, KEY_PAUSE}, {XK_Menu, KEY_COMPOSE},
	{XK_F1, KEY_F1}, {XK_F2, KEY_F2}, {XK_F3, KEY_F3}, {XK_F4, KEY_F4},
	{XK_F5, KEY_F5}, {XK_F6, KEY_F6}, {XK_F7, KEY_F7}, {XK_F8, KEY_F8},
	{XK_F9, KEY_F9}, {XK_F10, KEY_F10}, {XK_F11, KEY_F11}, {XK_F12, KEY_F12},
	{XK_KP_0, KEY_KP0}, {XK_KP_1, KEY_KP1}, {XK_KP_2, KEY_KP2}, {XK_KP_3, KEY_KP3},
	{XK_KP_4, KEY_KP4}, {XK_KP_5, KEY_KP5}, {XK_KP_6, KEY_KP6}, {XK_KP_7, KEY_KP7},
	{XK_KP_8, KEY_KP8}, {XK_KP_9, KEY_KP9},
	{XK_KP_Insert, KEY_KP0}, {XK_KP_End, KEY_KP1}, {XK_KP_Down, KEY_KP2},
	{XK_KP_Page_Down, KEY_KP3}, {XK_KP_Left, KEY_KP4}, {XK_KP_Begin, KEY_KP5},
	{XK_KP_Right, KEY_KP6}, {XK_KP_Home, KEY_KP7}, {XK_KP_Up, KEY_KP8},
	{XK_KP_Page_Up, KEY_KP9},
	{XK_KP_Decimal, KEY_KPDOT}, {XK_KP_Delete, KEY_KPDOT}, {XK_KP_Enter, KEY_KPENTER},
	{XK_KP_Add, KEY_KPPLUS}, {XK_KP_Subtract, KEY_KPMINUS},
	{XK_KP_Multiply, KEY_KPASTERISK}, {XK_KP_Divide, KEY_KPSLASH},
	{XK_KP_Equal, KEY_KPEQUAL},
};
/* clang-format on */

/* Letters and digits in keyboard order. */
static const uint16_t letter_codes[26] = {
    KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
    KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
};
static const uint16_t digit_codes[10] = {
    KEY_0, KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, KEY_6, KEY_7, KEY_8, KEY_9,
};

uint16_t keymap_keysym_to_linux(uint32_t keysym)
{
	if (keysym >= XK_a && keysym <= XK_z)
		return letter_codes[keysym - XK_a];
	if (keysym >= XK_A && keysym <= XK_Z)
		return letter_codes[keysym - XK_A];
	if (keysym >= XK_0 && keysym <= XK_9)
		return digit_codes[keysym - XK_0];
	for (size_t i = 0; i < ARRAY_SIZE(keymap_table); i++)
		if (keymap_table[i].keysym == keysym)
			return keymap_table[i].code;
	return 0;
}
