// board/qemu/virt: the qemu-virt-arm64 board.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64

package virt

import (
	"unsafe"

	"github.com/tamavisor/tamavisor/soc/fdt"
)

// dtbBase is where QEMU places the device tree for bare-metal (ELF)
// images: the base of RAM, in the first MiB tamavisor leaves alone.
const (
	dtbBase = RAM_BASE
	dtbMax  = 0x10_0000
)

// deviceTree returns the firmware device tree, bounded by its header's
// totalsize and by the 1 MiB reserved for it.
func deviceTree() ([]byte, error) {
	// SAFETY: [dtbBase, dtbBase+dtbMax) is identity-mapped RAM that the
	// hypervisor never allocates (see the RAM layout in virt.go).
	all := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(dtbBase))), dtbMax)
	n, err := fdt.TotalSize(all)
	if err != nil {
		return nil, err
	}
	if n > dtbMax {
		n = dtbMax
	}
	return all[:n], nil
}
