// soc/qemu/fwcfg: QEMU firmware configuration (fw_cfg) device reader.
// SPDX-License-Identifier: BSD-3-Clause

//go:build !tamago

package fwcfg

const hostMMIO = "fwcfg: MMIO access in a host build"

func mmioWrite16(addr uintptr, v uint16) { panic(hostMMIO) }
func mmioRead8(addr uintptr) byte        { panic(hostMMIO) }
