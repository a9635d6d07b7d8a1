// soc/intel/i8259: Intel 8259A PIC masking.
// SPDX-License-Identifier: BSD-3-Clause

// Package i8259 masks the PC's two cascaded Intel 8259A Programmable
// Interrupt Controllers. It is used by board qemu-q35-amd64 (and Bochs)
// and is host-tested against reg.Fake.
//
// tamavisor takes interrupts through the local APIC and I/O APIC, never
// the legacy PICs. SeaBIOS, however, leaves the master PIC delivering the
// PIT's IRQ 0 at vector 8, which collides with the #DF exception vector
// once the CPU enables interrupts. The real masking therefore happens in
// the early assembly of tamavisor's cpuinit, before interrupts are ever
// enabled; Mask repeats it from Go for completeness and so the sequence
// is tested.
//
// Reference: Intel 8259A Programmable Interrupt Controller datasheet
// (order number 231468), "Operation Command Words (OCWs)": OCW1 is written
// with A0=1 and sets the Interrupt Mask Register.
//
// It is plain portable Go over reg.Bus8: the board passes
// reg.Port{Base: MasterPort} and reg.Port{Base: SlavePort}.
package i8259

import "github.com/tamavisor/tamavisor/soc/reg"

// I/O port bases of the PC/AT PIC pair.
const (
	MasterPort = 0x20 // IRQ 0-7
	SlavePort  = 0xa0 // IRQ 8-15, cascaded on master IRQ 2
)

// Register offsets from a PIC's port base: the A0 address line.
const (
	CMD  = 0 // A0=0: ICW1, OCW2, OCW3
	DATA = 1 // A0=1: ICW2-ICW4 during initialisation, then OCW1 (IMR)
)

// OCW1_MASK_ALL sets every bit of the Interrupt Mask Register (OCW1
// M7-M0): a set bit inhibits that IRQ input.
const OCW1_MASK_ALL = 0xff

// Mask masks every legacy IRQ by writing OCW1 = 0xff to the master's and
// then the slave's data port (0x21 and 0xa1). The PICs keep their vector
// programming; masked inputs no longer reach the CPU.
func Mask(master, slave reg.Bus8) {
	master.Write8(DATA, OCW1_MASK_ALL)
	slave.Write8(DATA, OCW1_MASK_ALL)
}
