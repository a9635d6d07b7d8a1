// soc/reg: replaceable register access for tamavisor device drivers.
// SPDX-License-Identifier: BSD-3-Clause

//go:build !(tamago && amd64)

package reg

// Port I/O exists only on the amd64 target. These inert versions let
// packages that use Port build (and be vetted) everywhere; host tests use
// Fake instead.

func In8(port uint16) uint8         { return 0xff }
func Out8(port uint16, val uint8)   {}
func In16(port uint16) uint16       { return 0xffff }
func Out16(port uint16, val uint16) {}
func In32(port uint16) uint32       { return 0xffffffff }
func Out32(port uint16, val uint32) {}
