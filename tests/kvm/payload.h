/* Freestanding helpers for C payload guests (built -ffreestanding -mgeneral-regs-only). */
#ifndef VIREO_TESTS_KVM_PAYLOAD_H
#define VIREO_TESTS_KVM_PAYLOAD_H
#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t mmio_r8(uint64_t a)
{
	return *(volatile uint8_t *)a;
}
static inline uint16_t mmio_r16(uint64_t a)
{
	return *(volatile uint16_t *)a;
}
static inline uint32_t mmio_r32(uint64_t a)
{
	return *(volatile uint32_t *)a;
}
static inline void mmio_w8(uint64_t a, uint8_t v)
{
	*(volatile uint8_t *)a = v;
}
static inline void mmio_w16(uint64_t a, uint16_t v)
{
	*(volatile uint16_t *)a = v;
}
static inline void mmio_w32(uint64_t a, uint32_t v)
{
	*(volatile uint32_t *)a = v;
}
static inline void mmio_w64(uint64_t a, uint64_t v)
{
	mmio_w32(a, (uint32_t)v);
	mmio_w32(a + 4, (uint32_t)(v >> 32));
}
static inline void print(const char *s)
{
	while (*s)
		outb(0x3f8, (uint8_t)*s++);
}
static inline void print_hex(uint64_t v, int digits)
{
	for (int i = digits - 1; i >= 0; i--)
		outb(0x3f8, (uint8_t)"0123456789abcdef"[(v >> (i * 4)) & 0xf]);
}
static inline void wmb(void)
{
	__asm__ volatile("" ::: "memory");
}
#endif
