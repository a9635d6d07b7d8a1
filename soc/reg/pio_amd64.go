// soc/reg: replaceable register access for tamavisor device drivers.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package reg

// In8 reads an I/O port (defined in pio_amd64.s).
func In8(port uint16) uint8

// Out8 writes an I/O port (defined in pio_amd64.s).
func Out8(port uint16, val uint8)

// In16 reads an I/O port (defined in pio_amd64.s).
func In16(port uint16) uint16

// Out16 writes an I/O port (defined in pio_amd64.s).
func Out16(port uint16, val uint16)

// In32 reads an I/O port (defined in pio_amd64.s).
func In32(port uint16) uint32

// Out32 writes an I/O port (defined in pio_amd64.s).
func Out32(port uint16, val uint32)
