// soc/qemu/fwcfg: QEMU firmware configuration (fw_cfg) device reader.
// SPDX-License-Identifier: BSD-3-Clause

package fwcfg

import "github.com/tamavisor/tamavisor/soc/reg"

// x86 I/O ports (fw_cfg.rst "Selector Register", "Data Register").
const (
	PORT_SELECTOR = 0x510
	PORT_DATA     = 0x511
)

// MMIO register offsets on Arm (fw_cfg.rst: data at +0, selector at +8,
// the selector is big-endian).
const (
	MMIO_DATA     = 0x0
	MMIO_SELECTOR = 0x8
)

// Ports is the x86 I/O-port transport (qemu-q35-amd64).
type Ports struct{}

// Select writes the little-endian selector port.
func (Ports) Select(key uint16) { reg.Out16(PORT_SELECTOR, key) }

// DataByte reads the data port.
func (Ports) DataByte() byte { return reg.In8(PORT_DATA) }

// MMIO is the memory-mapped transport (qemu-virt-arm64, base 0x09020000).
type MMIO struct {
	Base uintptr
}

// Select writes the big-endian 16-bit selector register.
func (m MMIO) Select(key uint16) { mmioWrite16(m.Base+MMIO_SELECTOR, key>>8|key<<8) }

// DataByte reads one byte of the selected item.
func (m MMIO) DataByte() byte { return mmioRead8(m.Base + MMIO_DATA) }
