// vgic: software GICv3 distributor and redistributors for one VM.
// SPDX-License-Identifier: BSD-3-Clause

package vgic

import (
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// Distributor register map (IHI 0069D §8.8, "The GIC Distributor register
// map"); the section of each register's description is given.
const (
	GICD_CTLR        = 0x0000                        // §8.9.4 Distributor Control Register
	GICD_TYPER       = 0x0004                        // §8.9.24 Interrupt Controller Type Register
	GICD_IIDR        = 0x0008                        // §8.9.11 Implementer Identification Register
	GICD_STATUSR     = 0x0010                        // §8.9.23 Error Reporting Status Register (RAZ/WI here)
	GICD_SETSPI_NSR  = 0x0040                        // §8.9.19 Set SPI Register (no MBIS: reserved, RAZ/WI)
	GICD_IGROUPR     = 0x0080                        // §8.9.9 Interrupt Group Registers, 1 bit per INTID
	GICD_ISENABLER   = 0x0100                        // §8.9.15 Interrupt Set-Enable Registers
	GICD_ICENABLER   = 0x0180                        // §8.9.6 Interrupt Clear-Enable Registers
	GICD_ISPENDR     = 0x0200                        // §8.9.16 Interrupt Set-Pending Registers
	GICD_ICPENDR     = 0x0280                        // §8.9.8 Interrupt Clear-Pending Registers
	GICD_ISACTIVER   = 0x0300                        // §8.9.14 Interrupt Set-Active Registers
	GICD_ICACTIVER   = 0x0380                        // §8.9.5 Interrupt Clear-Active Registers
	GICD_IPRIORITYR  = 0x0400                        // §8.9.12 Interrupt Priority Registers, 1 byte per INTID
	GICD_ITARGETSR   = 0x0800                        // §8.9.17 Interrupt Processor Targets (RAZ/WI with ARE)
	GICD_ICFGR       = 0x0c00                        // §8.9.7 Interrupt Configuration Registers, 2 bits per INTID
	GICD_IGRPMODR    = 0x0d00                        // §8.9.10 Interrupt Group Modifier Registers (RAZ/WI with DS)
	GICD_NSACR       = 0x0e00                        // §8.9.18 Non-secure Access Control Registers (RAZ/WI with DS)
	GICD_SGIR        = 0x0f00                        // §8.9.21 Software Generated Interrupt Register (WI with ARE)
	GICD_CPENDSGIR   = 0x0f10                        // §8.9.3 SGI Clear-Pending Registers (RAZ/WI with ARE)
	GICD_SPENDSGIR   = 0x0f20                        // §8.9.22 SGI Set-Pending Registers (RAZ/WI with ARE)
	GICD_IROUTER     = 0x6000                        // §8.9.13 Interrupt Routing Registers, 64 bits per INTID (from 32)
	GICD_IROUTER32   = GICD_IROUTER + 8*FirstSPI     // first implemented: INTIDs 0-31 have none
	GICD_IROUTER_END = GICD_IROUTER + 8*(maxINTID+1) // end of GICD_IROUTER1019
	GICD_PIDR2       = 0xffe8                        // Peripheral ID2 Register (identification registers)
)

// GICD_CTLR fields with GICD_CTLR.DS == 1 (IHI 0069D §8.9.4, the layout
// "when access is Secure or GICD_CTLR.DS == 1" with a single Security
// state).
const (
	GICD_CTLR_ENABLE_GRP0 = 0  // EnableGrp0
	GICD_CTLR_ENABLE_GRP1 = 1  // EnableGrp1
	GICD_CTLR_ARE         = 4  // ARE: affinity routing, RAO/WI here
	GICD_CTLR_DS          = 6  // DS: one Security state, RAO/WI here
	GICD_CTLR_RWP         = 31 // Register Write Pending: writes take effect at once, reads 0

	gicdCtlrRW  = 1<<GICD_CTLR_ENABLE_GRP0 | 1<<GICD_CTLR_ENABLE_GRP1
	gicdCtlrRAO = 1<<GICD_CTLR_ARE | 1<<GICD_CTLR_DS
)

// GICD_TYPER fields (IHI 0069D §8.9.24).
const (
	GICD_TYPER_ITLINES_SHIFT = 0  // ITLinesNumber: 32(N+1) INTIDs
	GICD_TYPER_CPUNUM_SHIFT  = 5  // CPUNumber: PEs - 1 (without affinity routing)
	GICD_TYPER_MBIS          = 16 // message-based SPIs: 0
	GICD_TYPER_LPIS          = 17 // LPIs: 0
	GICD_TYPER_IDBITS_SHIFT  = 19 // IDbits: INTID bits - 1
	GICD_TYPER_A3V           = 24 // Aff3 supported: 0

	// idBits is GICD_TYPER.IDbits: 10-bit INTIDs (0..1023), no LPIs.
	idBits = 9
)

// GICD_IROUTER<n> fields (IHI 0069D §8.9.13).
const (
	GICD_IROUTER_IRM = 31 // Interrupt_Routing_Mode: 1 = any participating PE
	// gicdIrouterRW is what the model stores: Aff2.Aff1.Aff0 [23:0] and
	// IRM. Aff3 [39:32] is RES0 because GICD_TYPER.A3V is 0.
	gicdIrouterRW = 1<<GICD_IROUTER_IRM | 0xffffff
)

// Identification (IHI 0069D §8.9.11 GICD_IIDR, §8.11.10 GICR_IIDR, and
// the Peripheral ID2 Register).
const (
	// IIDR is the GICD_IIDR and GICR_IIDR value: ProductID [31:24] 'T'
	// (0x54) for tamavisor, Variant [19:16] and Revision [15:12] 0,
	// Implementer [11:0] 0x43b, the JEP106 code of Arm (continuation
	// code 0x4, identity 0x3b) that software-only GICv3 models such as
	// KVM's also report, with a ProductID no Arm GIC uses, so guest
	// erratum workarounds keyed on an Arm product never match.
	IIDR = 0x54<<24 | 0x43b
	// PIDR2 is the GICD_PIDR2 and GICR_PIDR2 value: ArchRev [7:4] = 3
	// (GICv3), JEDEC [3] = 1, DES_1 [2:0] = 0b011 (with the IIDR
	// implementer).
	PIDR2 = 3<<PIDR2_ARCHREV_SHIFT | 1<<3 | 0x3

	PIDR2_ARCHREV_SHIFT = 4
	PIDR2_ARCHREV_MASK  = 0xf
)

// distFrame is the GICD frame as an hv.MMIODevice.
type distFrame struct{ g *GIC }

// Dist returns the 64 KiB GICD frame (DistSize bytes) for the VM's MMIO
// bus. The accessing vCPU does not matter: the Distributor registers for
// INTIDs 0-31 are RAZ/WI with affinity routing (the Redistributors hold
// them).
func (g *GIC) Dist() hv.MMIODevice { return &g.dist }

// MMIORead implements hv.MMIODevice.
func (d *distFrame) MMIORead(_ int, off uint64, size int) (uint64, error) {
	g := d.g
	g.stats.DistReads++
	v, err := g.distAccess(off, size, false, 0)
	if err != nil {
		g.stats.Errors++
		return 0, err
	}
	return v, nil
}

// MMIOWrite implements hv.MMIODevice.
func (d *distFrame) MMIOWrite(_ int, off uint64, size int, val uint64) error {
	g := d.g
	g.stats.DistWrites++
	if _, err := g.distAccess(off, size, true, val); err != nil {
		g.stats.Errors++
		return err
	}
	return nil
}

// accessErr builds the ErrAccess for one refused access.
func accessErr(frame string, off uint64, size int, write bool) error {
	dir := "read"
	if write {
		dir = "write"
	}
	return fmt.Errorf("%w: %d-byte %s of %s+%#x", ErrAccess, size, dir, frame, off)
}

// aligned reports whether size is 1, 4 or 8 and off is a multiple of it.
// Halfword accesses are not supported by any GIC register.
func aligned(off uint64, size int) bool {
	switch size {
	case 1, 4, 8:
		return off%uint64(size) == 0
	}
	return false
}

// distAccess performs one read or write of the GICD frame.
func (g *GIC) distAccess(off uint64, size int, write bool, val uint64) (uint64, error) {
	if off >= DistSize || !aligned(off, size) {
		return 0, accessErr("GICD", off, size, write)
	}
	word := size == 4
	switch {
	case off == GICD_CTLR:
		if !word {
			break
		}
		if write {
			g.ctlr = uint32(val) & gicdCtlrRW
			g.kickAll()
		}
		return uint64(g.ctlr | gicdCtlrRAO), nil
	case off == GICD_TYPER:
		if !word {
			break
		}
		if write {
			return g.razwi() // read-only
		}
		cpus := g.ncpu - 1
		return uint64((g.nspi+31)/32)<<GICD_TYPER_ITLINES_SHIFT |
			uint64(cpus)<<GICD_TYPER_CPUNUM_SHIFT |
			idBits<<GICD_TYPER_IDBITS_SHIFT, nil
	case off == GICD_IIDR, off == GICD_PIDR2:
		if !word {
			break
		}
		return g.ident(off == GICD_IIDR, write)
	case off >= GICD_IGROUPR && off < GICD_IPRIORITYR:
		if !word {
			break
		}
		n := int(off&0x7f) / 4 // register n: INTIDs 32n..32n+31
		if n == 0 {
			return g.razwi()
		}
		return uint64(g.bits(int(off&^0x7f), 0, 32*n, write, uint32(val))), nil
	case off >= GICD_IPRIORITYR && off < GICD_ITARGETSR:
		if size == 8 {
			break
		}
		id := int(off - GICD_IPRIORITYR)
		if id < FirstSPI {
			return g.razwi()
		}
		return g.prio(0, id, size, write, val), nil
	case off >= GICD_ICFGR && off < GICD_IGRPMODR:
		if !word {
			break
		}
		n := int(off-GICD_ICFGR) / 4 // register n: INTIDs 16n..16n+15
		if n < 2 {
			return g.razwi()
		}
		return uint64(g.cfg(0, 16*n, write, uint32(val))), nil
	case off >= GICD_IROUTER && off < GICD_IROUTER_END:
		if size == 1 {
			break
		}
		id := int(off-GICD_IROUTER) / 8
		p := g.lookup(0, id)
		if id < FirstSPI || p == nil {
			return g.razwi()
		}
		return g.router(id, p, off%8 != 0, size, write, val), nil
	default:
		// Reserved, unimplemented (ITARGETSR, IGRPMODR, NSACR,
		// SGIR, [CS]PENDSGIR, STATUSR, SETSPI/CLRSPI, the extended
		// SPI ranges, other ID registers): RAZ/WI.
		return g.razwi()
	}
	return 0, accessErr("GICD", off, size, write)
}

// ident reads GICx_IIDR (iidr) or GICx_PIDR2; writes are ignored.
func (g *GIC) ident(iidr, write bool) (uint64, error) {
	switch {
	case write:
		return g.razwi()
	case iidr:
		return IIDR, nil
	}
	return PIDR2, nil
}

// razwi accounts for a read-as-zero/write-ignored access.
func (g *GIC) razwi() (uint64, error) {
	g.stats.RAZWI++
	return 0, nil
}

// Bit-per-INTID register kinds, by their offset in either frame (the
// SGI_base offsets of GICR_*0 equal the GICD_* ones).
const (
	kindGroup     = GICD_IGROUPR
	kindSetEnable = GICD_ISENABLER
	kindClrEnable = GICD_ICENABLER
	kindSetPend   = GICD_ISPENDR
	kindClrPend   = GICD_ICPENDR
	kindSetActive = GICD_ISACTIVER
	kindClrActive = GICD_ICACTIVER
)

// bits reads or writes one 32-bit, one-bit-per-INTID register of kind
// for INTIDs first..first+31 (banked for vCPU v when first is 0).
// Unimplemented INTIDs are RAZ/WI. The set/clear pairs read alike.
func (g *GIC) bits(kind, v, first int, write bool, val uint32) uint32 {
	var r uint32
	for b := 0; b < 32; b++ {
		id := first + b
		p := g.lookup(v, id)
		if p == nil {
			break
		}
		one := val&(1<<b) != 0
		switch {
		case write && kind == kindGroup:
			// IGROUPR is a plain read/write register.
			p.group1 = one
			g.kick(v, id, p)
		case write && one:
			g.setBit(kind, v, id, p)
		case write:
		default:
			if g.bitOf(kind, p) {
				r |= 1 << b
			}
		}
	}
	return r
}

// bitOf returns p's bit in a register of kind. The set/clear pairs read
// alike.
func (g *GIC) bitOf(kind int, p *irq) bool {
	switch kind {
	case kindGroup:
		return p.group1
	case kindSetEnable, kindClrEnable:
		return p.enabled
	case kindSetPend, kindClrPend:
		return p.pending()
	}
	return p.active
}

// setBit applies a written 1 in a bit-per-INTID register of kind to
// interrupt id (banked for v). A change to an interrupt that sits in a
// list register of a running vCPU is recorded so that the vCPU's next
// Sync/Flush applies it (see Flush).
func (g *GIC) setBit(kind, v, id int, p *irq) {
	switch kind {
	case kindSetEnable:
		p.enabled = true
	case kindClrEnable:
		p.enabled = false
	case kindSetPend:
		p.latch = true
	case kindClrPend:
		// Clears the latch only: a level-sensitive interrupt stays
		// pending while its input is high (IHI 0069D §8.9.8).
		p.latch = false
		if p.owner >= 0 {
			p.dropPend = true
		}
	case kindSetActive:
		p.active = true
		if p.owner >= 0 {
			p.actSet = 1
		}
	case kindClrActive:
		p.active = false
		if p.owner >= 0 {
			p.actSet = -1
		}
	}
	if kind == kindSetEnable || kind == kindSetPend || kind == kindClrActive {
		g.kick(v, id, p)
	}
}

// prio reads or writes GICx_IPRIORITYR bytes for INTIDs id..id+size-1
// (size 1 or 4, little-endian: the byte at the lowest address is the
// lowest INTID). All 8 bits are kept; the list registers carry 8 and the
// virtual CPU interface ignores the bits it does not implement.
func (g *GIC) prio(v, id, size int, write bool, val uint64) uint64 {
	var r uint64
	for b := 0; b < size; b++ {
		p := g.lookup(v, id+b)
		if p == nil {
			continue
		}
		if write {
			p.prio = uint8(val >> (8 * b))
		} else {
			r |= uint64(p.prio) << (8 * b)
		}
	}
	if !write {
		return r
	}
	return 0
}

// cfg reads or writes one GICx_ICFGR register for INTIDs first..first+15:
// Int_config[1] (bit 2k+1) is 1 for edge-triggered, Int_config[0] is
// RES0 (IHI 0069D §8.9.7). SGIs are always edge-triggered (read-only).
func (g *GIC) cfg(v, first int, write bool, val uint32) uint32 {
	var r uint32
	for k := 0; k < 16; k++ {
		id := first + k
		p := g.lookup(v, id)
		if p == nil {
			break
		}
		if write && id >= FirstPPI {
			p.edge = val&(2<<(2*k)) != 0
		}
		if p.edge {
			r |= 2 << (2 * k)
		}
	}
	if write {
		return 0
	}
	return r
}

// router reads or writes GICD_IROUTER<id> (size 8, or 4 for either half).
func (g *GIC) router(id int, p *irq, high bool, size int, write bool, val uint64) uint64 {
	if !write {
		r := p.route
		if high {
			r >>= 32
		}
		if size == 4 {
			r &= 0xffffffff
		}
		return r
	}
	switch {
	case size == 8:
		p.route = val
	case high:
		p.route = p.route&0xffffffff | val<<32
	default:
		p.route = p.route&^0xffffffff | val&0xffffffff
	}
	p.route &= gicdIrouterRW
	g.kick(0, id, p)
	return 0
}
