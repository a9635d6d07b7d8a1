// soc/reg: replaceable register access for tamavisor device drivers.
// SPDX-License-Identifier: BSD-3-Clause

package reg

// Port is a Bus8 over x86 I/O ports starting at Base (IN/OUT
// instructions). It works only on amd64 at CPL0, i.e. on the tamago
// target; elsewhere the accessors are inert (see pio_stub.go).
type Port struct {
	Base uint16
}

func (p Port) Read8(off uint32) uint8       { return In8(p.Base + uint16(off)) }
func (p Port) Write8(off uint32, val uint8) { Out8(p.Base+uint16(off), val) }
