// vgic: software GICv3 distributor and redistributors for one VM.
// SPDX-License-Identifier: BSD-3-Clause

package vgic

import "github.com/tamavisor/tamavisor/hv"

// RD_base registers (IHI 0069D §8.10 "The GIC Redistributor register
// map", descriptions in §8.11).
const (
	GICR_CTLR      = 0x0000 // §8.11.2 Redistributor Control Register
	GICR_IIDR      = 0x0004 // §8.11.10 Implementer Identification Register
	GICR_TYPER     = 0x0008 // §8.11.23 Redistributor Type Register (64-bit)
	GICR_STATUSR   = 0x0010 // §8.11.21 Error Reporting Status Register (RAZ/WI here)
	GICR_WAKER     = 0x0014 // §8.11.26 Redistributor Wake Register
	GICR_PROPBASER = 0x0070 // §8.11.19 LPI Configuration Table (no LPIs: RAZ/WI)
	GICR_PENDBASER = 0x0078 // §8.11.18 LPI Pending Table (no LPIs: RAZ/WI)
	GICR_PIDR2     = 0xffe8 // Peripheral ID2 Register
)

// SGI_base registers, offsets inside the SGI_base frame (IHI 0069D
// §8.10): the banked SGI and PPI (INTIDs 0-31) counterparts of the
// Distributor registers, at the same offsets as GICD_*<0>.
const (
	GICR_IGROUPR0       = 0x0080                     // §8.11.8 Interrupt Group Register 0
	GICR_ISENABLER0     = 0x0100                     // §8.11.15 Interrupt Set-Enable Register 0
	GICR_ICENABLER0     = 0x0180                     // §8.11.4 Interrupt Clear-Enable Register 0
	GICR_ISPENDR0       = 0x0200                     // §8.11.16 Interrupt Set-Pending Register 0
	GICR_ICPENDR0       = 0x0280                     // §8.11.7 Interrupt Clear-Pending Register 0
	GICR_ISACTIVER0     = 0x0300                     // §8.11.14 Interrupt Set-Active Register 0
	GICR_ICACTIVER0     = 0x0380                     // §8.11.3 Interrupt Clear-Active Register 0
	GICR_IPRIORITYR     = 0x0400                     // §8.11.13 Interrupt Priority Registers 0-7
	GICR_IPRIORITYR_END = GICR_IPRIORITYR + nPrivate // one byte per INTID 0-31
	GICR_ICFGR0         = 0x0c00                     // §8.11.5 Interrupt Configuration Register 0 (SGIs, read-only edge)
	GICR_ICFGR1         = 0x0c04                     // §8.11.6 Interrupt Configuration Register 1 (PPIs)
	GICR_IGRPMODR0      = 0x0d00                     // §8.11.9 Interrupt Group Modifier Register 0 (RAZ/WI with DS)
	GICR_NSACR          = 0x0e00                     // §8.11.17 Non-secure Access Control Register (RAZ/WI with DS)
)

// GICR_CTLR fields (IHI 0069D §8.11.2). With no LPIs every bit reads 0
// and writes are ignored; EnableLPIs in particular stays 0.
const (
	GICR_CTLR_ENABLE_LPIS = 0
	GICR_CTLR_RWP         = 3
	GICR_CTLR_UWP         = 31
)

// GICR_TYPER fields (IHI 0069D §8.11.23).
const (
	GICR_TYPER_PLPIS                = 0 // physical LPIs: 0
	GICR_TYPER_VLPIS                = 1 // virtual LPIs: 0
	GICR_TYPER_LAST                 = 4 // last Redistributor of the region
	GICR_TYPER_PROCESSOR_NUM_SHIFT  = 8 // Processor_Number [23:8]
	GICR_TYPER_AFFINITY_VALUE_SHIFT = 32
)

// GICR_WAKER fields (IHI 0069D §8.11.26).
const (
	GICR_WAKER_PROCESSOR_SLEEP = 1
	GICR_WAKER_CHILDREN_ASLEEP = 2
)

// redistFrame is the Redistributor region as an hv.MMIODevice.
type redistFrame struct{ g *GIC }

// Redist returns the Redistributor region for the VM's MMIO bus:
// VCPUs()*RedistStride bytes, vCPU i's RD_base frame at i*RedistStride
// and its SGI_base frame SGIBase after it. The frame addressed, not the
// accessing vCPU, selects the Redistributor, as on hardware. GICR_TYPER
// of the last one has Last set.
//
// GICR_WAKER.ProcessorSleep is kept for the guest's handshake
// (ChildrenAsleep reads the same) but does not gate delivery, as in
// QEMU's model.
func (g *GIC) Redist() hv.MMIODevice { return &g.redist }

// RedistSize returns the size of the Redistributor region.
func (g *GIC) RedistSize() uint64 { return uint64(g.ncpu) * RedistStride }

// MMIORead implements hv.MMIODevice.
func (r *redistFrame) MMIORead(_ int, off uint64, size int) (uint64, error) {
	g := r.g
	g.stats.RedistReads++
	v, err := g.redistAccess(off, size, false, 0)
	if err != nil {
		g.stats.Errors++
		return 0, err
	}
	return v, nil
}

// MMIOWrite implements hv.MMIODevice.
func (r *redistFrame) MMIOWrite(_ int, off uint64, size int, val uint64) error {
	g := r.g
	g.stats.RedistWrites++
	if _, err := g.redistAccess(off, size, true, val); err != nil {
		g.stats.Errors++
		return err
	}
	return nil
}

// Typer returns GICR_TYPER of vCPU v's Redistributor: Affinity_Value
// Aff3.Aff2.Aff1.Aff0 = 0.0.0.v (see MPIDR), Processor_Number v, Last on
// the final one, no LPIs.
func (g *GIC) Typer(v int) uint64 {
	t := uint64(v)<<GICR_TYPER_AFFINITY_VALUE_SHIFT | uint64(v)<<GICR_TYPER_PROCESSOR_NUM_SHIFT
	if v == g.ncpu-1 {
		t |= 1 << GICR_TYPER_LAST
	}
	return t
}

// redistAccess performs one read or write of the Redistributor region.
func (g *GIC) redistAccess(off uint64, size int, write bool, val uint64) (uint64, error) {
	if off >= g.RedistSize() || !aligned(off, size) {
		return 0, accessErr("GICR", off, size, write)
	}
	v := int(off / RedistStride)
	o := off % RedistStride
	if o >= SGIBase {
		if r, ok := g.sgiAccess(v, o-SGIBase, size, write, val); ok {
			return r, nil
		}
		return 0, accessErr("GICR", off, size, write)
	}
	word := size == 4
	c := &g.cpus[v]
	switch {
	case o == GICR_CTLR, o == GICR_STATUSR:
		if !word {
			break
		}
		return g.razwi()
	case o == GICR_IIDR, o == GICR_PIDR2:
		if !word {
			break
		}
		return g.ident(o == GICR_IIDR, write)
	case o == GICR_TYPER, o == GICR_TYPER+4:
		// 64-bit register, 32-bit halves accepted.
		if size == 1 || (size == 8 && o != GICR_TYPER) {
			break
		}
		if write {
			return g.razwi() // read-only
		}
		t := g.Typer(v)
		if o != GICR_TYPER {
			t >>= 32
		}
		if word {
			t &= 0xffffffff
		}
		return t, nil
	case o == GICR_WAKER:
		if !word {
			break
		}
		if write {
			c.sleep = val&(1<<GICR_WAKER_PROCESSOR_SLEEP) != 0
			return 0, nil
		}
		if c.sleep {
			return 1<<GICR_WAKER_PROCESSOR_SLEEP | 1<<GICR_WAKER_CHILDREN_ASLEEP, nil
		}
		return 0, nil
	default:
		// Reserved or unimplemented (LPI registers, other ID
		// registers): RAZ/WI.
		return g.razwi()
	}
	return 0, accessErr("GICR", off, size, write)
}

// sgiAccess performs one access to vCPU v's SGI_base frame at offset o.
// ok is false for an access size the register does not support.
func (g *GIC) sgiAccess(v int, o uint64, size int, write bool, val uint64) (r uint64, ok bool) {
	word := size == 4
	switch {
	case o >= GICR_IGROUPR0 && o < GICR_IPRIORITYR && o%0x80 == 0:
		if !word {
			return 0, false
		}
		return uint64(g.bits(int(o), v, 0, write, uint32(val))), true
	case o >= GICR_IPRIORITYR && o < GICR_IPRIORITYR_END:
		if size == 8 {
			return 0, false
		}
		return g.prio(v, int(o-GICR_IPRIORITYR), size, write, val), true
	case o == GICR_ICFGR0, o == GICR_ICFGR1:
		if !word {
			return 0, false
		}
		return uint64(g.cfg(v, 16*int(o-GICR_ICFGR0)/4, write, uint32(val))), true
	}
	// GICR_IGRPMODR0, GICR_NSACR, the extended PPI registers
	// (GICR_IGROUPR<n>E etc.) and everything else: RAZ/WI.
	r, _ = g.razwi()
	return r, true
}
