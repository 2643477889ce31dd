/* SPDX-License-Identifier: MIT */
/*
 * MSI-X for a pci_dev: the capability, the vector table and the pending bit array (PBA) in a
 * 4 KiB memory BAR of their own (table at 0, PBA at 0x800, up to 128 vectors), and delivery
 * through one KVM MSI route + irqfd per vector (allocated on first use, route refreshed when
 * the guest rewrote the entry).
 *
 * Masking: while the function is masked (Function Mask) or a vector is masked (its Vector
 * Control mask bit, set at reset), msix_notify() sets the vector's pending bit instead of
 * delivering; unmasking delivers pending vectors and clears their bits.
 *
 * Threading: msix_notify() may be called from any thread (device completion paths), the
 * table/cap handlers run on vCPU threads; one internal lock serialises them.
 */
#ifndef VIREO_PCI_MSIX_H
#define VIREO_PCI_MSIX_H

#include <stdint.h>
#include <stdbool.h>
#include "base/util.h"

struct pci_dev;
struct msix;

#define MSIX_MAX_VECTORS 128
#define MSIX_BAR_SIZE 0x1000
#define MSIX_TABLE_OFF 0x0
#define MSIX_PBA_OFF 0x800

/* Add the MSI-X capability and BAR `bar` (32-bit) to d (before pci_bus_add_dev). Sets
 * d->msix. nr_vectors 1..MSIX_MAX_VECTORS. */
int msix_create(struct pci_dev *d, unsigned bar, uint16_t nr_vectors, struct msix **out) WUR;
/* Releases GSIs' irqfds. The pci_dev's BAR still points at it: destroy after unplugging. */
void msix_destroy(struct msix *m);

/* MSI-X Enable in the capability. When false the device uses INTx. */
bool msix_enabled(struct msix *m);
/* Signal vector v. Returns false when MSI-X is disabled (nothing done: use INTx). A vector
 * >= the table size is dropped (true). */
bool msix_notify(struct msix *m, uint16_t v);
uint16_t msix_nr_vectors(const struct msix *m);
/* Called by the PCI core after a config write touched the capability. */
void msix_cap_written(struct msix *m);
/* Test/introspection: is vector v's pending bit set? */
bool msix_pending(struct msix *m, uint16_t v);

#endif
