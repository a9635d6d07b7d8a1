// soc/arm/gicv3: ARM GICv3 distributor and redistributor driver.
// SPDX-License-Identifier: BSD-3-Clause

// Package gicv3 programs the memory-mapped parts of an ARM Generic
// Interrupt Controller v3/v4: the Distributor (GICD_*) and the
// Redistributors (GICR_*). It is used by board qemu-virt-arm64
// (-M virt,gic-version=3; GICD at 0x08000000, GICR at 0x080a0000) and is
// host-tested against reg.Fake.
//
// The CPU interface (ICC_* system registers) is not here: it needs
// assembly and lives with the EL2 CPU support in hv/arm64.
//
// References are to the ARM Generic Interrupt Controller Architecture
// Specification, GIC architecture version 3 and version 4, ARM IHI 0069D,
// chapter 8 "Programmers' Model". The driver uses affinity routing
// (GICD_CTLR.ARE) and puts every interrupt in Non-secure Group 1, the
// group a hypervisor at Non-secure EL2 takes as IRQ. Extended SPIs and
// PPIs (GICv3.1) and LPIs are not configured.
//
// Every wait on the hardware (the RWP and ChildrenAsleep handshakes) is
// bounded and reports the register value it gave up on.
package gicv3

import (
	"errors"
	"fmt"

	"github.com/tamavisor/tamavisor/soc/reg"
)

// Distributor register map (IHI 0069D §8.8, "The GIC Distributor register
// map"); the section of each register's description is given.
const (
	GICD_CTLR       = 0x0000 // §8.9.4 Distributor Control Register
	GICD_TYPER      = 0x0004 // §8.9.24 Interrupt Controller Type Register
	GICD_IIDR       = 0x0008 // §8.9.11 Implementer Identification Register
	GICD_IGROUPR    = 0x0080 // §8.9.9 Interrupt Group Registers, 1 bit per INTID
	GICD_ISENABLER  = 0x0100 // §8.9.15 Interrupt Set-Enable Registers
	GICD_ICENABLER  = 0x0180 // §8.9.6 Interrupt Clear-Enable Registers
	GICD_ISPENDR    = 0x0200 // §8.9.16 Interrupt Set-Pending Registers
	GICD_ICPENDR    = 0x0280 // §8.9.8 Interrupt Clear-Pending Registers
	GICD_ISACTIVER  = 0x0300 // §8.9.14 Interrupt Set-Active Registers
	GICD_ICACTIVER  = 0x0380 // §8.9.5 Interrupt Clear-Active Registers
	GICD_IPRIORITYR = 0x0400 // §8.9.12 Interrupt Priority Registers, 1 byte per INTID
	GICD_ICFGR      = 0x0c00 // §8.9.7 Interrupt Configuration Registers, 2 bits per INTID
	GICD_IGRPMODR   = 0x0d00 // §8.9.10 Interrupt Group Modifier Registers
	GICD_IROUTER    = 0x6000 // §8.9.13 Interrupt Routing Registers, 64 bits per INTID (from 32)
	GICD_PIDR2      = 0xffe8 // Peripheral ID2 Register (identification registers)
)

// GICD_CTLR fields (IHI 0069D §8.9.4). The register has three layouts:
//
//   - GICD_CTLR.DS == 1 (one Security state; QEMU virt without
//     secure=on): bit 4 is ARE and bit 1 is EnableGrp1, bit 0 EnableGrp0.
//   - DS == 0, Non-secure access (a hypervisor at Non-secure EL2 under
//     TF-A): bit 4 is ARE_NS and bit 1 is EnableGrp1A (Non-secure Group 1).
//   - DS == 0, Secure access: bit 5 ARE_NS, bit 4 ARE_S, bit 2
//     EnableGrp1S, bit 1 EnableGrp1NS, bit 0 EnableGrp0.
//
// In both views tamavisor can have, bit 4 turns affinity routing on and
// bit 1 enables Non-secure Group 1, so one value, CTLR_ENABLE, serves both.
const (
	CTLR_ENABLE_GRP1A = 1  // EnableGrp1A (NS view, DS=0) / EnableGrp1 (DS=1)
	CTLR_ARE_NS       = 4  // ARE_NS (NS view, DS=0) / ARE (DS=1)
	CTLR_DS           = 6  // Disable Security
	CTLR_RWP          = 31 // Register Write Pending

	// CTLR_ENABLE is what Distributor.Init finally writes to GICD_CTLR.
	CTLR_ENABLE = 1<<CTLR_ARE_NS | 1<<CTLR_ENABLE_GRP1A
)

// GICD_TYPER fields (IHI 0069D §8.9.24). The largest SPI INTID is
// 32*(ITLinesNumber+1) - 1, but never more than 1019.
const (
	TYPER_ITLINES_SHIFT = 0
	TYPER_ITLINES_MASK  = 0x1f
)

// GICD_PIDR2 fields: ArchRev is 0x3 for GICv3 and 0x4 for GICv4.
const (
	PIDR2_ARCHREV_SHIFT = 4
	PIDR2_ARCHREV_MASK  = 0xf
)

// INTID ranges (IHI 0069D, "INTIDs": 0-15 SGI, 16-31 PPI, 32-1019 SPI).
const (
	FirstSPI  = 32   // INTIDs 0-15 are SGIs, 16-31 PPIs
	MaxINTIDs = 1020 // INTIDs 1020-1023 are special
)

// DefaultPriority is the priority Init gives every interrupt (one byte of
// GICD_IPRIORITYR / GICR_IPRIORITYR per INTID, lower is more urgent). It
// is the middle value Linux uses (GICD_INT_DEF_PRI), so it is signalled
// whatever the implemented priority bits and with ICC_PMR_EL1 at 0xf0 or
// 0xff, and leaves room for more and less urgent interrupts later.
const DefaultPriority = 0xa0

// Errors returned by the driver, wrapped with %w together with the
// register values that explain them.
var (
	// ErrTimeout means a handshake bit did not reach the expected value
	// within the poll bound.
	ErrTimeout = errors.New("gicv3: timeout")
	// ErrNoLast means a walk of redistributor frames found no
	// GICR_TYPER.Last within the frames it was allowed to read.
	ErrNoLast = errors.New("gicv3: no redistributor frame with GICR_TYPER.Last")
	// ErrInvalid means an argument was out of range.
	ErrInvalid = errors.New("gicv3: invalid argument")
)

// spinLimit bounds every poll. RWP and ChildrenAsleep settle within
// microseconds on working hardware. Tests lower it.
var spinLimit = 1 << 20

const (
	allOnes   = 0xffffffff
	prioWord  = DefaultPriority * 0x01010101 // four INTIDs per IPRIORITYR word
	levelWord = 0                            // ICFGR: 0b00 per INTID = level-sensitive
)

// Distributor is the GIC Distributor, one per system.
type Distributor struct {
	// Regs is the 64 KiB GICD register frame.
	Regs reg.Bus
}

// Lines returns the number of INTIDs the Distributor implements, SGIs and
// PPIs included: 32*(GICD_TYPER.ITLinesNumber+1), capped at 1020.
func (d *Distributor) Lines() int {
	n := reg.Get(d.Regs, GICD_TYPER, TYPER_ITLINES_SHIFT, TYPER_ITLINES_MASK)
	return min(32*(int(n)+1), MaxINTIDs)
}

// ArchRev returns GICD_PIDR2.ArchRev: 3 for GICv3, 4 for GICv4.
func (d *Distributor) ArchRev() uint32 {
	return reg.Get(d.Regs, GICD_PIDR2, PIDR2_ARCHREV_SHIFT, PIDR2_ARCHREV_MASK)
}

// waitRWP waits for GICD_CTLR.RWP to read 0 (IHI 0069D §8.9.4: RWP tracks
// writes to GICD_CTLR and GICD_ICENABLER<n>).
func (d *Distributor) waitRWP(after string) error {
	if reg.Wait(d.Regs, GICD_CTLR, CTLR_RWP, 1, 0, spinLimit) {
		return nil
	}
	return fmt.Errorf("%w: GICD_CTLR.RWP stuck after %s, GICD_CTLR=%#x",
		ErrTimeout, after, d.Regs.Read32(GICD_CTLR))
}

// Init resets every SPI and enables the Distributor with affinity routing
// for Non-secure Group 1. In order it:
//
//  1. disables the Distributor (GICD_CTLR = 0) and waits for RWP;
//  2. disables every SPI (GICD_ICENABLER) and waits for RWP, since
//     reconfiguring an enabled interrupt is UNPREDICTABLE (§8.9.7);
//  3. clears their pending and active state (GICD_ICPENDR, GICD_ICACTIVER);
//  4. puts them in Group 1 (GICD_IGROUPR all ones; with DS=0 these
//     registers are RAZ/WI to Non-secure accesses and the firmware owns
//     the grouping);
//  5. gives them DefaultPriority (GICD_IPRIORITYR) and makes them
//     level-sensitive (GICD_ICFGR = 0);
//  6. enables the Distributor, GICD_CTLR = CTLR_ENABLE, and waits for RWP;
//  7. routes every SPI to affinity 0.0.0.0 (GICD_IROUTER = 0). This comes
//     after ARE is set because GICD_IROUTER is RES0 while affinity routing
//     is off (§8.9.13), as Linux's gic_dist_init also does. The SPIs are
//     all disabled, so none can fire before it is routed.
//
// SGIs and PPIs are banked per CPU in the Redistributors (Redistributor.Init).
func (d *Distributor) Init() error {
	lines := d.Lines()

	d.Regs.Write32(GICD_CTLR, 0)
	if err := d.waitRWP("disable"); err != nil {
		return err
	}

	// One bit per INTID: register n covers INTIDs 32n..32n+31.
	for id := FirstSPI; id < lines; id += 32 {
		d.Regs.Write32(GICD_ICENABLER+uint32(id/8), allOnes)
	}
	if err := d.waitRWP("GICD_ICENABLER"); err != nil {
		return err
	}
	for _, base := range []uint32{GICD_ICPENDR, GICD_ICACTIVER, GICD_IGROUPR} {
		for id := FirstSPI; id < lines; id += 32 {
			d.Regs.Write32(base+uint32(id/8), allOnes)
		}
	}
	// One byte per INTID.
	for id := FirstSPI; id < lines; id += 4 {
		d.Regs.Write32(GICD_IPRIORITYR+uint32(id), prioWord)
	}
	// Two bits per INTID.
	for id := FirstSPI; id < lines; id += 16 {
		d.Regs.Write32(GICD_ICFGR+uint32(id/4), levelWord)
	}

	d.Regs.Write32(GICD_CTLR, CTLR_ENABLE)
	if err := d.waitRWP("enable"); err != nil {
		return err
	}

	// GICD_IROUTER: Aff3 [39:32], Interrupt_Routing_Mode [31], Aff2..Aff0
	// [23:0]; 0 targets the PE with affinity 0.0.0.0.
	for id := FirstSPI; id < lines; id++ {
		d.Regs.Write64(GICD_IROUTER+8*uint32(id), 0)
	}
	return nil
}

// EnableSPI enables shared peripheral interrupt intid (GICD_ISENABLER,
// §8.9.15); Init left it Group 1, level-sensitive, at DefaultPriority
// and routed to affinity 0.0.0.0. DisableSPI disables it
// (GICD_ICENABLER, §8.9.6); its pending state stays, so an edge that
// arrives while it is disabled is delivered once it is enabled again.
func (d *Distributor) EnableSPI(intid uint32) error {
	if err := d.checkSPI(intid); err != nil {
		return err
	}
	d.Regs.Write32(GICD_ISENABLER+intid/32*4, 1<<(intid%32))
	return nil
}

// DisableSPI: see EnableSPI.
func (d *Distributor) DisableSPI(intid uint32) error {
	if err := d.checkSPI(intid); err != nil {
		return err
	}
	d.Regs.Write32(GICD_ICENABLER+intid/32*4, 1<<(intid%32))
	return nil
}

func (d *Distributor) checkSPI(intid uint32) error {
	if intid < FirstSPI || int(intid) >= d.Lines() || intid >= 1020 {
		return fmt.Errorf("gicv3: INTID %d is not an SPI of this distributor (%d lines)", intid, d.Lines())
	}
	return nil
}
