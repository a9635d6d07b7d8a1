// hv/arm64/guestfdt: the devicetree tamavisor hands to an arm64 Linux guest.
// SPDX-License-Identifier: BSD-3-Clause

// Package guestfdt generates the flattened devicetree of one arm64 VM:
// the blob whose address a Linux guest finds in x0 at entry
// (Documentation/arch/arm64/booting.rst). It describes the VM's memory,
// vCPUs, virtual GICv3, generic timer, PL011 console, PSCI conduit,
// /chosen (command line, initrd, console) and any passthrough devices, in
// the layout of QEMU's "virt" machine so the same kernels boot on bare
// QEMU and under tamavisor.
//
// Bindings followed: Devicetree Specification v0.4 (chapters 2 and 3:
// root, /aliases, /memory, /chosen, /cpus), and the Linux bindings
// arm,gic-v3, arm,armv8-timer, arm,pl011 (with arm,primecell and
// fixed-clock) and arm,psci.
//
// The Config may come from a manifest, which is untrusted: Generate checks
// every field (ranges that wrap, overlap or are misaligned, interrupt
// numbers outside the GIC, names the spec forbids) and returns an error
// wrapping ErrConfig rather than a blob a guest would misread.
//
// It is pure Go with no build tags; it runs on the target
// (GOOS=tamago GOARCH=arm64) and on the host, where the tests parse the
// result back with soc/fdt.
package guestfdt

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/fdt"
)

// ErrConfig is wrapped by every error Generate returns for a bad Config.
var ErrConfig = errors.New("guestfdt: invalid VM configuration")

// Interrupt specifier cells of the arm,gic-v3 binding (#interrupt-cells
// = 3: type, number, flags), as in Linux's
// include/dt-bindings/interrupt-controller/{arm-gic,irq}.h.
const (
	GIC_SPI = 0 // cell 1: number is INTID-32
	GIC_PPI = 1 // cell 1: number is INTID-16

	IRQ_TYPE_EDGE_RISING  = 1
	IRQ_TYPE_EDGE_FALLING = 2
	IRQ_TYPE_LEVEL_HIGH   = 4
	IRQ_TYPE_LEVEL_LOW    = 8

	// MaxSPI is one past the largest SPI number: SPIs are INTIDs 32 to
	// 1019 (ARM IHI 0069 2.2.1).
	MaxSPI = 1020 - 32
	// MaxPPI is one past the largest PPI number (INTIDs 16 to 31).
	MaxPPI = 16
)

// TimerFlags is the trigger of the generic timer PPIs in the timer node:
// level-sensitive, active high. The timers' interrupt outputs are levels
// (ARM DDI 0487 D11.2.4 "the timer condition ... asserts a level"), and
// with GICv3 there is no CPU mask in bits 15:8, which is what QEMU writes
// for its virt board with gic-version=3.
const TimerFlags = IRQ_TYPE_LEVEL_HIGH

// Sizes and limits.
const (
	// GICDSize is the size of the GICv3 Distributor frame.
	GICDSize = 0x10000
	// GICRStride is the size of one Redistributor (RD_base plus
	// SGI_base frames, ARM IHI 0069 12.10).
	GICRStride = 0x20000
	// UARTSize is the PL011 register window.
	UARTSize = 0x1000
	// UARTClockHz is the frequency of the fixed apb-pclk clock (as on
	// QEMU virt). The emulated UART ignores the baud divisor, so the
	// value only has to be plausible to the driver.
	UARTClockHz = 24_000_000
	// MaxVCPUs bounds the vCPU count: cpu reg (MPIDR) is the Aff0
	// index, and GICv3 without range selector support can only target
	// SGIs at Aff0 0 to 15 (ICC_SGI1R_EL1.TargetList, ARM IHI 0069
	// 12.2.23). The virtual GIC may impose a lower bound.
	MaxVCPUs = 16
	// MaxBootargs bounds the command line: Linux arm64's
	// COMMAND_LINE_SIZE is 2048 including the NUL.
	MaxBootargs = 2047
	// MaxRNGSeed bounds /chosen/rng-seed.
	MaxRNGSeed = 4096
	// MaxDevices bounds the passthrough device list.
	MaxDevices = 64
	// MaxDeviceSPIs bounds the interrupts of one device.
	MaxDeviceSPIs = 32
)

// The QEMU virt layout every VM uses by default.
const (
	VirtGICDBase = 0x0800_0000
	VirtGICRBase = 0x080a_0000
	VirtUARTBase = 0x0900_0000
	VirtUARTSPI  = 1 // INTID 33
	VirtMemBase  = 0x4000_0000
)

// Range is a guest-physical window.
type Range struct {
	Base hv.IPA
	Size uint64
}

// End returns the first address after r, which may be 1<<64 (as 0) for
// a window that touches the top; Generate rejects those.
func (r Range) End() hv.IPA { return r.Base + hv.IPA(r.Size) }

// TimerPPIs are the generic timer interrupts as PPI numbers (INTID-16),
// in the order of the arm,armv8-timer binding.
type TimerPPIs struct {
	SecurePhys    uint32 // CNTPS, default 13 (INTID 29)
	NonSecurePhys uint32 // CNTP, default 14 (INTID 30)
	Virt          uint32 // CNTV, default 11 (INTID 27)
	Hyp           uint32 // CNTHP, default 10 (INTID 26)
}

// DefaultTimerPPIs are the Server Base System Architecture numbers, as
// QEMU virt and most boards use them.
var DefaultTimerPPIs = TimerPPIs{SecurePhys: 13, NonSecurePhys: 14, Virt: 11, Hyp: 10}

// UART describes the VM's PL011 console.
type UART struct {
	Base hv.IPA
	// Size defaults to UARTSize.
	Size uint64
	// SPI is the interrupt as an SPI number (INTID-32).
	SPI uint32
	// ClockHz defaults to UARTClockHz.
	ClockHz uint32
}

// Device is a passthrough (or other extra) device rendered as
// /Name@Base with compatible, reg and interrupts.
type Device struct {
	// Name is the node-name (2.2.1), e.g. "virtio_mmio" or "ethernet".
	Name       string
	Base       hv.IPA
	Size       uint64
	Compatible []string
	// SPIs are the device's interrupts as SPI numbers (INTID-32).
	SPIs []uint32
	// IRQFlags is the trigger of every SPI; 0 means IRQ_TYPE_LEVEL_HIGH.
	IRQFlags uint32
	// DMACoherent adds the dma-coherent property.
	DMACoherent bool
}

// Config is everything Generate needs to describe one VM.
type Config struct {
	// Memory is the VM's RAM; base and size must be page-aligned.
	Memory Range
	// VCPUs is the number of vCPUs, 1 to MaxVCPUs; vCPU i has MPIDR
	// Aff0 = i and cpu node cpu@i.
	VCPUs int
	// GICD is the Distributor window; a zero Base means VirtGICDBase,
	// a zero Size GICDSize.
	GICD Range
	// GICR is the Redistributor region; a zero Base means VirtGICRBase,
	// a zero Size means VCPUs*GICRStride (the least allowed).
	GICR Range
	// GICSPIs is the number of SPIs the virtual Distributor implements:
	// every SPI used must be below it. 0 means MaxSPI.
	GICSPIs int
	// Timer is the generic timer PPIs; nil means DefaultTimerPPIs.
	Timer *TimerPPIs
	// UART is the console; nil means none (no stdout-path, no serial0).
	UART *UART
	// PSCIMethod is the PSCI conduit, "smc" (the default: tamavisor
	// traps SMC with HCR_EL2.TSC and implements PSCI there) or "hvc".
	PSCIMethod string
	// Bootargs is /chosen/bootargs, at most MaxBootargs bytes, no NUL;
	// empty means no bootargs property.
	Bootargs string
	// Initrd, when Size is not zero, is where the loader put the
	// initramfs; it must lie inside Memory.
	Initrd Range
	// RNGSeed, when not empty, becomes /chosen/rng-seed.
	RNGSeed []byte
	// Devices are extra device nodes.
	Devices []Device
}

// VirtConfig returns the QEMU virt layout for vcpus vCPUs and mem: GICv3
// at 0x08000000/0x080a0000, PL011 at 0x09000000 on SPI 1, PSCI over SMC.
func VirtConfig(vcpus int, mem Range) Config {
	return Config{
		Memory: mem,
		VCPUs:  vcpus,
		UART:   &UART{Base: VirtUARTBase, SPI: VirtUARTSPI},
	}
}

// reservedNames are node-names a Device may not take: readers find
// these nodes by name (3.3, 3.4, 3.6, 3.7).
var reservedNames = map[string]bool{"memory": true, "cpus": true, "chosen": true, "aliases": true}

// window is a named guest-physical range used in overlap checks.
type window struct {
	name string
	r    Range
}

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
}

// resolved is a Config with defaults applied and every field checked.
type resolved struct {
	Config
	timer   TimerPPIs
	uart    UART
	spiSeen map[uint32]string
}

func checkRange(name string, r Range, sizeAligned bool) error {
	switch {
	case r.Size == 0:
		return bad("%s is empty", name)
	case uint64(r.Base)+r.Size <= uint64(r.Base):
		return bad("%s %#x+%#x wraps", name, uint64(r.Base), r.Size)
	case uint64(r.Base)%hv.PageSize != 0 || sizeAligned && r.Size%hv.PageSize != 0:
		return bad("%s %#x+%#x is not page-aligned", name, uint64(r.Base), r.Size)
	}
	return nil
}

func (c *resolved) useSPI(owner string, spi uint32) error {
	limit := uint32(MaxSPI)
	if c.GICSPIs > 0 && c.GICSPIs < MaxSPI {
		limit = uint32(c.GICSPIs)
	}
	if spi >= limit {
		return bad("%s SPI %d outside the GIC's %d SPIs", owner, spi, limit)
	}
	if other, ok := c.spiSeen[spi]; ok {
		return bad("%s SPI %d already used by %s", owner, spi, other)
	}
	c.spiSeen[spi] = owner
	return nil
}

func checkStrings(what string, ss []string) error {
	if len(ss) == 0 {
		return bad("%s is empty", what)
	}
	for _, s := range ss {
		if s == "" || strings.IndexByte(s, 0) >= 0 || len(s) > 128 {
			return bad("%s %q must be 1 to 128 bytes without NUL", what, s)
		}
	}
	return nil
}

// resolve applies the defaults and checks every field.
func resolve(cfg Config) (*resolved, error) {
	c := &resolved{Config: cfg, spiSeen: map[uint32]string{}}
	if c.VCPUs < 1 || c.VCPUs > MaxVCPUs {
		return nil, bad("%d vCPUs, want 1 to %d", c.VCPUs, MaxVCPUs)
	}
	if c.GICD.Base == 0 {
		c.GICD.Base = VirtGICDBase
	}
	if c.GICD.Size == 0 {
		c.GICD.Size = GICDSize
	}
	if c.GICR.Base == 0 {
		c.GICR.Base = VirtGICRBase
	}
	if c.GICR.Size == 0 {
		c.GICR.Size = uint64(c.VCPUs) * GICRStride
	}
	if c.GICD.Size < GICDSize {
		return nil, bad("GIC distributor of %#x bytes, want at least %#x", c.GICD.Size, GICDSize)
	}
	if c.GICR.Size < uint64(c.VCPUs)*GICRStride {
		return nil, bad("GIC redistributor region of %#x bytes for %d vCPUs, want at least %#x",
			c.GICR.Size, c.VCPUs, uint64(c.VCPUs)*GICRStride)
	}
	if c.GICSPIs < 0 {
		return nil, bad("negative GIC SPI count %d", c.GICSPIs)
	}
	c.timer = DefaultTimerPPIs
	if c.Timer != nil {
		c.timer = *c.Timer
	}
	for _, p := range []uint32{c.timer.SecurePhys, c.timer.NonSecurePhys, c.timer.Virt, c.timer.Hyp} {
		if p >= MaxPPI {
			return nil, bad("timer PPI %d, want 0 to %d", p, MaxPPI-1)
		}
	}
	switch c.PSCIMethod {
	case "":
		c.PSCIMethod = "smc"
	case "smc", "hvc":
	default:
		return nil, bad("PSCI method %q, want \"smc\" or \"hvc\"", c.PSCIMethod)
	}
	if len(c.Bootargs) > MaxBootargs || strings.IndexByte(c.Bootargs, 0) >= 0 {
		return nil, bad("bootargs of %d bytes (at most %d, no NUL)", len(c.Bootargs), MaxBootargs)
	}
	if len(c.RNGSeed) > MaxRNGSeed {
		return nil, bad("rng-seed of %d bytes, at most %d", len(c.RNGSeed), MaxRNGSeed)
	}

	wins := []window{{"memory", c.Memory}, {"GIC distributor", c.GICD}, {"GIC redistributors", c.GICR}}
	if err := checkRange("memory", c.Memory, true); err != nil {
		return nil, err
	}
	for _, w := range wins[1:] {
		if err := checkRange(w.name, w.r, false); err != nil {
			return nil, err
		}
	}
	if c.Initrd.Size != 0 {
		if c.Initrd.Base < c.Memory.Base || uint64(c.Initrd.Base)+c.Initrd.Size < uint64(c.Initrd.Base) ||
			uint64(c.Initrd.Base)+c.Initrd.Size > uint64(c.Memory.Base)+c.Memory.Size {
			return nil, bad("initrd %#x+%#x outside memory %#x+%#x", uint64(c.Initrd.Base), c.Initrd.Size,
				uint64(c.Memory.Base), c.Memory.Size)
		}
	}
	if c.UART != nil {
		c.uart = *c.UART
		if c.uart.Size == 0 {
			c.uart.Size = UARTSize
		}
		if c.uart.ClockHz == 0 {
			c.uart.ClockHz = UARTClockHz
		}
		r := Range{c.uart.Base, c.uart.Size}
		if err := checkRange("UART", r, false); err != nil {
			return nil, err
		}
		if err := c.useSPI("UART", c.uart.SPI); err != nil {
			return nil, err
		}
		wins = append(wins, window{"UART", r})
	}
	if len(c.Devices) > MaxDevices {
		return nil, bad("%d devices, at most %d", len(c.Devices), MaxDevices)
	}
	for i, d := range c.Devices {
		name := fmt.Sprintf("device %d (%q)", i, d.Name)
		if err := fdt.CheckNodeName(d.Name); err != nil || strings.IndexByte(d.Name, '@') >= 0 {
			return nil, bad("%s: node-name must follow Devicetree Spec 2.2.1, without a unit address", name)
		}
		if reservedNames[d.Name] {
			return nil, bad("%s: node-name %q is reserved for the VM's own nodes", name, d.Name)
		}
		r := Range{d.Base, d.Size}
		if err := checkRange(name, r, false); err != nil {
			return nil, err
		}
		if err := checkStrings(name+" compatible", d.Compatible); err != nil {
			return nil, err
		}
		if len(d.SPIs) > MaxDeviceSPIs {
			return nil, bad("%s has %d SPIs, at most %d", name, len(d.SPIs), MaxDeviceSPIs)
		}
		for _, s := range d.SPIs {
			if err := c.useSPI(name, s); err != nil {
				return nil, err
			}
		}
		switch d.IRQFlags {
		case 0, IRQ_TYPE_EDGE_RISING, IRQ_TYPE_LEVEL_HIGH:
		default:
			// GICv3 SPIs are only level-high or rising-edge
			// (GICD_ICFGR, ARM IHI 0069 12.9.9).
			return nil, bad("%s IRQ flags %#x, want level-high or rising-edge", name, d.IRQFlags)
		}
		wins = append(wins, window{name, r})
	}
	sort.Slice(wins, func(i, j int) bool { return wins[i].r.Base < wins[j].r.Base })
	for i := 1; i < len(wins); i++ {
		a, b := wins[i-1], wins[i]
		if uint64(b.r.Base) < uint64(a.r.Base)+a.r.Size {
			return nil, bad("%s [%#x,%#x) overlaps %s [%#x,%#x)", a.name, uint64(a.r.Base), uint64(a.r.End()),
				b.name, uint64(b.r.Base), uint64(b.r.End()))
		}
	}
	return c, nil
}

// UARTPath returns the devicetree path of the console node for a UART at
// base, as used in /chosen/stdout-path and /aliases/serial0.
func UARTPath(base hv.IPA) string { return fmt.Sprintf("/pl011@%x", uint64(base)) }

// Generate returns the devicetree blob (version 17, soc/fdt and dtc
// readable) for cfg, or an error wrapping ErrConfig (or an hv/fdt error,
// which a checked Config cannot cause). The tree is, in this order:
//
//	/ { #address-cells = <2>; #size-cells = <2>;
//	    compatible = "tamavisor,vm", "linux,dummy-virt"; model = "tamavisor VM";
//	    interrupt-parent = <&gic>;
//	  psci              compatible "arm,psci-1.0", "arm,psci-0.2"; method
//	  memory@BASE       device_type "memory"; reg
//	  cpus              #address-cells 1, #size-cells 0, cpu@N: device_type
//	                    "cpu", compatible "arm,armv8", reg <N>, enable-method "psci"
//	  timer             compatible "arm,armv8-timer", 4 PPIs, always-on
//	  intc@GICD         compatible "arm,gic-v3", #interrupt-cells 3,
//	                    interrupt-controller, #redistributor-regions 1, reg GICD GICR
//	  apb-pclk          fixed-clock, clock-frequency            (with a UART)
//	  pl011@BASE        arm,pl011 + arm,primecell, SPI, clocks    (with a UART)
//	  NAME@BASE         each passthrough device
//	  aliases           serial0                                   (with a UART)
//	  chosen            bootargs, stdout-path, linux,initrd-start/end, rng-seed
//	}
//
// The boot CPU (header boot_cpuid_phys) is vCPU 0.
func Generate(cfg Config) ([]byte, error) {
	c, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	w := fdt.NewWriter()
	w.SetBootCPU(0)
	gic := w.AllocPhandle()

	w.BeginNode("")
	w.PropU32("#address-cells", 2) // 2.3.5: 64-bit addresses and sizes
	w.PropU32("#size-cells", 2)
	w.PropStrings("compatible", "tamavisor,vm", "linux,dummy-virt")
	w.PropString("model", "tamavisor VM")
	w.PropU32("interrupt-parent", gic) // 2.4.1: every device's default

	w.BeginNode("psci")
	w.PropStrings("compatible", "arm,psci-1.0", "arm,psci-0.2")
	w.PropString("method", c.PSCIMethod)
	w.EndNode()

	// 3.4 /memory node.
	w.BeginNode(fmt.Sprintf("memory@%x", uint64(c.Memory.Base)))
	w.PropString("device_type", "memory")
	w.PropU64("reg", uint64(c.Memory.Base), c.Memory.Size)
	w.EndNode()

	// 3.7 /cpus and 3.8 /cpus/cpu*: reg is MPIDR_EL1[23:0], Aff0 = index.
	w.BeginNode("cpus")
	w.PropU32("#address-cells", 1)
	w.PropU32("#size-cells", 0)
	for i := 0; i < c.VCPUs; i++ {
		w.BeginNode(fmt.Sprintf("cpu@%x", i))
		w.PropString("device_type", "cpu")
		w.PropString("compatible", "arm,armv8")
		w.PropU32("reg", uint32(i))
		w.PropString("enable-method", "psci")
		w.EndNode()
	}
	w.EndNode()

	// arm,armv8-timer: secure, non-secure, virtual, hypervisor PPIs.
	w.BeginNode("timer")
	w.PropString("compatible", "arm,armv8-timer")
	w.PropU32("interrupts",
		GIC_PPI, c.timer.SecurePhys, TimerFlags,
		GIC_PPI, c.timer.NonSecurePhys, TimerFlags,
		GIC_PPI, c.timer.Virt, TimerFlags,
		GIC_PPI, c.timer.Hyp, TimerFlags)
	w.PropEmpty("always-on")
	w.EndNode()

	// arm,gic-v3: reg is the Distributor then the Redistributor region.
	w.BeginNode(fmt.Sprintf("intc@%x", uint64(c.GICD.Base)))
	w.PropString("compatible", "arm,gic-v3")
	w.PropU32("#interrupt-cells", 3)
	w.PropU32("#address-cells", 0) // no children (no ITS)
	w.PropEmpty("interrupt-controller")
	w.PropU32("#redistributor-regions", 1)
	w.PropU64("reg", uint64(c.GICD.Base), c.GICD.Size, uint64(c.GICR.Base), c.GICR.Size)
	w.PropU32("phandle", gic)
	w.EndNode()

	if c.UART != nil {
		clk := w.AllocPhandle()
		w.BeginNode("apb-pclk")
		w.PropString("compatible", "fixed-clock")
		w.PropU32("#clock-cells", 0)
		w.PropU32("clock-frequency", c.uart.ClockHz)
		w.PropU32("phandle", clk)
		w.EndNode()

		w.BeginNode(UARTPath(c.uart.Base)[1:])
		w.PropStrings("compatible", "arm,pl011", "arm,primecell")
		w.PropU64("reg", uint64(c.uart.Base), c.uart.Size)
		w.PropU32("interrupts", GIC_SPI, c.uart.SPI, IRQ_TYPE_LEVEL_HIGH)
		w.PropU32("clocks", clk, clk)
		w.PropStrings("clock-names", "uartclk", "apb_pclk")
		w.EndNode()
	}

	for _, d := range c.Devices {
		w.BeginNode(fmt.Sprintf("%s@%x", d.Name, uint64(d.Base)))
		w.PropStrings("compatible", d.Compatible...)
		w.PropU64("reg", uint64(d.Base), d.Size)
		if len(d.SPIs) > 0 {
			flags := d.IRQFlags
			if flags == 0 {
				flags = IRQ_TYPE_LEVEL_HIGH
			}
			var cells []uint32
			for _, s := range d.SPIs {
				cells = append(cells, GIC_SPI, s, flags)
			}
			w.PropU32("interrupts", cells...)
		}
		if d.DMACoherent {
			w.PropEmpty("dma-coherent")
		}
		w.EndNode()
	}

	// 3.3 /aliases and 3.6 /chosen.
	if c.UART != nil {
		w.BeginNode("aliases")
		w.PropString("serial0", UARTPath(c.uart.Base))
		w.EndNode()
	}
	w.BeginNode("chosen")
	if c.Bootargs != "" {
		w.PropString("bootargs", c.Bootargs)
	}
	if c.UART != nil {
		w.PropString("stdout-path", UARTPath(c.uart.Base))
	}
	if c.Initrd.Size != 0 {
		// Linux reads both as <u64>; the end is exclusive.
		w.PropU64("linux,initrd-start", uint64(c.Initrd.Base))
		w.PropU64("linux,initrd-end", uint64(c.Initrd.Base)+c.Initrd.Size)
	}
	if len(c.RNGSeed) > 0 {
		w.Prop("rng-seed", c.RNGSeed)
	}
	w.EndNode()

	w.EndNode()
	return w.Finish()
}
