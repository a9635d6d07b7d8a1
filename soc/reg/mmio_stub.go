// soc/reg: replaceable register access for tamavisor device drivers.
// SPDX-License-Identifier: BSD-3-Clause

//go:build !tamago

package reg

// On a host build there is no device memory: a driver handed an MMIO is a
// programming error (tests must use Fake), so these panic.

const hostMMIO = "reg: MMIO access in a host build; use reg.Fake"

func (m MMIO) Read32(off uint32) uint32       { panic(hostMMIO) }
func (m MMIO) Write32(off uint32, val uint32) { panic(hostMMIO) }
func (m MMIO) Read64(off uint32) uint64       { panic(hostMMIO) }
func (m MMIO) Write64(off uint32, val uint64) { panic(hostMMIO) }
