// soc/qemu/fwcfg: QEMU firmware configuration (fw_cfg) device reader.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago

package fwcfg

import "unsafe"

// fw_cfg's MMIO registers accept only 16-bit selector writes and byte (or
// wider) data reads, which reg.Bus does not offer, hence these two.

func mmioWrite16(addr uintptr, v uint16) {
	// SAFETY: addr is the identity-mapped fw_cfg selector register.
	*(*uint16)(unsafe.Pointer(addr)) = v
}

func mmioRead8(addr uintptr) byte {
	// SAFETY: addr is the identity-mapped fw_cfg data register.
	return *(*byte)(unsafe.Pointer(addr))
}
