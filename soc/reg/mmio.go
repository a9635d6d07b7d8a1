// soc/reg: replaceable register access for tamavisor device drivers.
// SPDX-License-Identifier: BSD-3-Clause

package reg

// MMIO is a Bus backed by device memory at physical address Base. It must
// only be used where Base is identity-mapped as Device memory (tamavisor's
// EL2 and long-mode page tables map every MMIO window that way). Its
// accessors touch hardware only on the tamago target (mmio_unsafe.go);
// host builds get mmio_stub.go.
type MMIO struct {
	Base uintptr
}
