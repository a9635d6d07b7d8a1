// soc/arm/gicv3: ARM GICv3 distributor and redistributor driver.
// SPDX-License-Identifier: BSD-3-Clause

package gicv3

import (
	"fmt"
	"math"

	"github.com/tamavisor/tamavisor/soc/reg"
)

// Redistributor frames (IHI 0069D §8.10, "The GIC Redistributor register
// map"). Each PE has an RD_base frame (control, LPIs) followed by an
// SGI_base frame (SGIs and PPIs); GICv4 implementations with
// GICR_TYPER.VLPIS add two more.
const (
	RD_BASE  = 0x00000
	SGI_BASE = 0x10000

	// FrameSizeV3 is the stride between the Redistributors of
	// consecutive PEs on a GICv3 (RD_base + SGI_base).
	FrameSizeV3 = 0x20000
	// FrameSizeV4 is the stride when GICR_TYPER.VLPIS is set
	// (RD_base, SGI_base, VLPI_base and a reserved frame).
	FrameSizeV4 = 0x40000
)

// RD_base registers (IHI 0069D §8.11).
const (
	GICR_CTLR  = RD_BASE + 0x0000 // §8.11.2 Redistributor Control Register
	GICR_IIDR  = RD_BASE + 0x0004 // §8.11.10 Implementer Identification Register
	GICR_TYPER = RD_BASE + 0x0008 // §8.11.23 Redistributor Type Register (64-bit)
	GICR_WAKER = RD_BASE + 0x0014 // §8.11.26 Redistributor Wake Register
	GICR_PIDR2 = RD_BASE + 0xffe8 // Peripheral ID2 Register
)

// SGI_base registers (IHI 0069D §8.11): the banked SGI and PPI (INTIDs
// 0-31) counterparts of the Distributor registers.
const (
	GICR_IGROUPR0    = SGI_BASE + 0x0080 // §8.11.8 Interrupt Group Register 0
	GICR_ISENABLER0  = SGI_BASE + 0x0100 // §8.11.15 Interrupt Set-Enable Register 0
	GICR_ICENABLER0  = SGI_BASE + 0x0180 // §8.11.4 Interrupt Clear-Enable Register 0
	GICR_ISPENDR0    = SGI_BASE + 0x0200 // §8.11.16 Interrupt Set-Pending Register 0
	GICR_ICPENDR0    = SGI_BASE + 0x0280 // §8.11.7 Interrupt Clear-Pending Register 0
	GICR_ISACTIVER0  = SGI_BASE + 0x0300 // §8.11.14 Interrupt Set-Active Register 0
	GICR_ICACTIVER0  = SGI_BASE + 0x0380 // §8.11.3 Interrupt Clear-Active Register 0
	GICR_IPRIORITYR  = SGI_BASE + 0x0400 // §8.11.13 Interrupt Priority Registers 0-7
	GICR_ICFGR0      = SGI_BASE + 0x0c00 // §8.11.5 Interrupt Configuration Register 0 (SGIs)
	GICR_ICFGR1      = SGI_BASE + 0x0c04 // §8.11.6 Interrupt Configuration Register 1 (PPIs)
	GICR_IGRPMODR0   = SGI_BASE + 0x0d00 // §8.11.9 Interrupt Group Modifier Register 0
	GICR_IPRIORITYRS = 8                 // number of GICR_IPRIORITYR<n> registers
)

// GICR_CTLR fields (IHI 0069D §8.11.2).
const (
	GICR_CTLR_ENABLE_LPIS = 0
	GICR_CTLR_RWP         = 3 // tracks EnableLPIs 1->0 and GICR_ICENABLER0
	GICR_CTLR_UWP         = 31
)

// GICR_WAKER fields (IHI 0069D §8.11.26).
const (
	WAKER_PROCESSOR_SLEEP = 1
	WAKER_CHILDREN_ASLEEP = 2
)

// GICR_TYPER fields (IHI 0069D §8.11.23).
const (
	GICR_TYPER_PLPIS                = 0
	GICR_TYPER_VLPIS                = 1
	GICR_TYPER_DIRECT_LPI           = 3
	GICR_TYPER_LAST                 = 4
	GICR_TYPER_PROCESSOR_NUM_SHIFT  = 8
	GICR_TYPER_PROCESSOR_NUM_MASK   = 0xffff
	GICR_TYPER_AFFINITY_VALUE_SHIFT = 32
	GICR_TYPER_AFFINITY_VALUE_MASK  = 0xffffffff
)

// Typer is a GICR_TYPER value (IHI 0069D §8.11.23).
type Typer uint64

// Last reports whether this is the last Redistributor in its region.
func (t Typer) Last() bool { return t>>GICR_TYPER_LAST&1 != 0 }

// VLPIS reports whether the Redistributor supports direct injection of
// virtual LPIs (GICv4), in which case its frame is FrameSizeV4 bytes.
func (t Typer) VLPIS() bool { return t>>GICR_TYPER_VLPIS&1 != 0 }

// ProcessorNumber returns the number the GIC gives this PE.
func (t Typer) ProcessorNumber() uint32 {
	return uint32(t>>GICR_TYPER_PROCESSOR_NUM_SHIFT) & GICR_TYPER_PROCESSOR_NUM_MASK
}

// Affinity returns Affinity_Value, the affinity of the PE this
// Redistributor serves, as Aff3.Aff2.Aff1.Aff0 in bits [31:24], [23:16],
// [15:8] and [7:0] (compare with MPIDRAffinity).
func (t Typer) Affinity() uint32 {
	return uint32(t>>GICR_TYPER_AFFINITY_VALUE_SHIFT) & GICR_TYPER_AFFINITY_VALUE_MASK
}

// MPIDRAffinity packs the affinity fields of an MPIDR_EL1 value (Aff3
// [39:32], Aff2..Aff0 [23:0]; ARM DDI 0487, MPIDR_EL1) the way
// GICR_TYPER.Affinity_Value holds them, so a PE can find its
// Redistributor.
func MPIDRAffinity(mpidr uint64) uint32 {
	return uint32(mpidr>>32&0xff)<<24 | uint32(mpidr&0xffffff)
}

// frameTyper reads GICR_TYPER of frame i after checking that the offset
// fits the bus.
func frameTyper(r reg.Bus, frameSize uint32, i int) (Typer, error) {
	off := uint64(i)*uint64(frameSize) + GICR_TYPER
	if off > math.MaxUint32 {
		return 0, fmt.Errorf("%w: redistributor frame %d of %#x bytes is beyond 4 GiB", ErrInvalid, i, frameSize)
	}
	return Typer(r.Read64(uint32(off))), nil
}

// walk calls fn with the GICR_TYPER of each Redistributor frame of a
// contiguous region, frameSize bytes apart, up to the one with Last set.
// It reads at most maxFrames frames.
func walk(r reg.Bus, frameSize uint32, maxFrames int, fn func(Typer)) (int, error) {
	if frameSize == 0 || maxFrames <= 0 {
		return 0, fmt.Errorf("%w: frameSize %#x, maxFrames %d", ErrInvalid, frameSize, maxFrames)
	}
	var t Typer
	for i := 0; i < maxFrames; i++ {
		var err error
		if t, err = frameTyper(r, frameSize, i); err != nil {
			return 0, err
		}
		if fn != nil {
			fn(t)
		}
		if t.Last() {
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("%w: read %d frames of %#x bytes, last GICR_TYPER=%#x",
		ErrNoLast, maxFrames, frameSize, uint64(t))
}

// CountRedistributors returns how many Redistributors a contiguous
// redistributor region holds, walking frames frameSize bytes apart
// (FrameSizeV3 or FrameSizeV4) until GICR_TYPER.Last. It reads at most
// maxFrames frames and fails with ErrNoLast if none of them is the last,
// so a wrong frame size cannot send it across the address space.
func CountRedistributors(r reg.Bus, frameSize uint32, maxFrames int) (int, error) {
	return walk(r, frameSize, maxFrames, nil)
}

// Affinities returns GICR_TYPER.Affinity_Value of every Redistributor in
// the region, in frame order (see CountRedistributors for the walk).
func Affinities(r reg.Bus, frameSize uint32, maxFrames int) ([]uint32, error) {
	var aff []uint32
	if _, err := walk(r, frameSize, maxFrames, func(t Typer) { aff = append(aff, t.Affinity()) }); err != nil {
		return nil, err
	}
	return aff, nil
}

// Redistributor is the Redistributor of one PE.
type Redistributor struct {
	// Regs covers the PE's RD_base frame followed by its SGI_base
	// frame at +0x10000 (FrameSizeV3 bytes).
	Regs reg.Bus
}

// Typer returns this Redistributor's GICR_TYPER.
func (r *Redistributor) Typer() Typer { return Typer(r.Regs.Read64(GICR_TYPER)) }

// Wake marks the PE as awake: it clears GICR_WAKER.ProcessorSleep and
// waits until ChildrenAsleep reads 0 (IHI 0069D §8.11.26). Until then the
// Redistributor does not forward interrupts to the CPU interface. With
// DS=0 GICR_WAKER is Secure-only and the firmware wakes the
// Redistributor; the Non-secure write is ignored and ChildrenAsleep
// reads 0.
func (r *Redistributor) Wake() error {
	reg.Clear(r.Regs, GICR_WAKER, WAKER_PROCESSOR_SLEEP)
	if reg.Wait(r.Regs, GICR_WAKER, WAKER_CHILDREN_ASLEEP, 1, 0, spinLimit) {
		return nil
	}
	return fmt.Errorf("%w: GICR_WAKER.ChildrenAsleep stuck, GICR_WAKER=%#x",
		ErrTimeout, r.Regs.Read32(GICR_WAKER))
}

// Init wakes the Redistributor and resets this PE's SGIs and PPIs: all
// disabled (GICR_ICENABLER0) first, not pending, not active, in Group 1
// (GICR_IGROUPR0; Secure-only when DS=0, see Distributor.Init) and at
// DefaultPriority. It then waits for GICR_CTLR.RWP, which tracks the
// GICR_ICENABLER0 write. Trigger modes are left alone: SGIs are always
// edge-triggered and PPI configuration is largely fixed by the hardware.
func (r *Redistributor) Init() error {
	if err := r.Wake(); err != nil {
		return err
	}
	r.Regs.Write32(GICR_ICENABLER0, allOnes)
	r.Regs.Write32(GICR_ICPENDR0, allOnes)
	r.Regs.Write32(GICR_ICACTIVER0, allOnes)
	r.Regs.Write32(GICR_IGROUPR0, allOnes)
	for n := uint32(0); n < GICR_IPRIORITYRS; n++ {
		r.Regs.Write32(GICR_IPRIORITYR+4*n, prioWord)
	}
	if !reg.Wait(r.Regs, GICR_CTLR, GICR_CTLR_RWP, 1, 0, spinLimit) {
		return fmt.Errorf("%w: GICR_CTLR.RWP stuck, GICR_CTLR=%#x",
			ErrTimeout, r.Regs.Read32(GICR_CTLR))
	}
	return nil
}

// EnablePPI enables one of this PE's SGIs or PPIs (INTID 0-31) through
// GICR_ISENABLER0 (IHI 0069D §8.11.15).
func (r *Redistributor) EnablePPI(intid uint32) error {
	if intid > 31 {
		return fmt.Errorf("gicv3: INTID %d is not an SGI or PPI", intid)
	}
	r.Regs.Write32(GICR_ISENABLER0, 1<<intid)
	return nil
}
