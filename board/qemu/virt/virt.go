// board/qemu/virt: the qemu-virt-arm64 board.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64

package virt

import (
	"fmt"
	"runtime"
	"time"
	_ "unsafe"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/arm64"
	"github.com/tamavisor/tamavisor/soc/arm/gicv3"
	"github.com/tamavisor/tamavisor/soc/arm/pl011"
	"github.com/tamavisor/tamavisor/soc/fdt"
	"github.com/tamavisor/tamavisor/soc/qemu/fwcfg"
	"github.com/tamavisor/tamavisor/soc/reg"
)

// Name is the board name used by the Makefile, hvctl and the tests.
const Name = "qemu-virt-arm64"

// QEMU virt memory map (hw/arm/virt.c, base_memmap).
const (
	GICD_BASE    = 0x0800_0000
	GICD_SIZE    = 0x1_0000
	GICR_BASE    = 0x080a_0000
	GICR_SIZE    = 0xf6_0000
	GICR_FRAME   = 0x2_0000
	UART0_BASE   = 0x0900_0000
	UART0_SIZE   = 0x1000
	RTC_BASE     = 0x0901_0000
	FWCFG_BASE   = 0x0902_0000
	FWCFG_SIZE   = 0x18
	VIRTIO_BASE  = 0x0a00_0000
	VIRTIO_SIZE  = 0x200 * 32
	PCIE_MMIO    = 0x1000_0000
	PCIE_MMIO_SZ = 0x2eff_0000
	PCIE_ECAM    = 0x3f00_0000
	PCIE_ECAM_SZ = 0x100_0000
	RAM_BASE     = 0x4000_0000
)

// Hypervisor RAM layout. QEMU puts the device tree at the bottom of RAM
// for ELF images, so the first MiB is left alone; the EL2 translation
// tables (512 KiB) and the live-patch code arena (512 KiB) follow; the
// image is linked at 0x40210000 (Makefile: -T).
const (
	ramStart   = RAM_BASE
	ramSizeHV  = 0x1000_0000 // 256 MiB for the hypervisor
	tablesBase = RAM_BASE + 0x10_0000
	tablesSize = 0x8_0000
	// codeBase is the live-patch code arena: below the image and within
	// the ±128 MiB a BL from payload code reaches (hv/arm64.EarlyInit).
	codeBase       = tablesBase + tablesSize
	codeSize       = 0x8_0000
	ramStackOffset = 0x100
)

//go:linkname runtimeRamStart runtime.ramStart
var runtimeRamStart uint64 = ramStart

//go:linkname runtimeRamSize runtime.ramSize
var runtimeRamSize uint64 = ramSizeHV

//go:linkname runtimeRamStackOffset runtime.ramStackOffset
var runtimeRamStackOffset uint64 = ramStackOffset

// The EL2 identity map covers everything below RAM as Device memory
// (flash, GIC, UART, RTC, fw_cfg, virtio, PCIe windows).
var lowIO = [1]hv.Region{{Name: "low-io", Kind: hv.MMIO, Base: 0, Size: RAM_BASE}}

var (
	// UART0 is the console.
	UART0 = &pl011.UART{Regs: reg.MMIO{Base: UART0_BASE}, ClockHz: 24_000_000}
	// GICD is the GICv3 distributor.
	GICD = &gicv3.Distributor{Regs: reg.MMIO{Base: GICD_BASE}}
	// FWCfg is QEMU's firmware configuration device.
	FWCfg = &fwcfg.Device{T: fwcfg.MMIO{Base: FWCFG_BASE}}
)

//go:linkname hwinit0 runtime.hwinit0
func hwinit0() {
	arm64.EarlyInit(
		hv.Region{Name: "hypervisor", Kind: hv.RAM, Base: ramStart, Size: ramSizeHV},
		hv.Region{Name: "el2-tables", Kind: hv.RAM, Base: tablesBase, Size: tablesSize},
		hv.Region{Name: "patch-code", Kind: hv.RAM, Base: codeBase, Size: codeSize},
		lowIO[:])
}

//go:linkname printk runtime.printk
func printk(c byte) {
	if c == '\n' {
		UART0.Tx('\r')
	}
	UART0.Tx(c)
}

//go:linkname nanotime1 runtime.nanotime1
func nanotime1() int64 {
	return arm64.Nanotime()
}

//go:linkname initRNG runtime.initRNG
func initRNG() {}

//go:linkname getRandomData runtime.getRandomData
func getRandomData(b []byte) {
	arm64.RandomData(b)
}

var bootErrors []string

//go:linkname hwinit1 runtime.hwinit1
func hwinit1() {
	runtime.Exit = func(code int32) {
		arm64.SystemOff()
		arm64.Halt()
	}
	if err := UART0.Init(115200); err != nil {
		bootErrors = append(bootErrors, err.Error())
	}
}

var start = time.Now()

// Platform initialises the interrupt controller and describes the
// machine. Problems found on the way are reported in Details["errors"]
// rather than stopping the boot.
func Platform() *hv.Platform {
	errs := append([]string(nil), bootErrors...)
	details := map[string]string{}

	entered := arm64.EntryEL
	details["entered_el"] = fmt.Sprintf("EL%d", entered)
	mode := fmt.Sprintf("EL%d", arm64.CurrentEL())
	if entered == 3 {
		mode += " (non-secure, entered at EL3)"
	}
	details["mmu"] = fmt.Sprintf("on=%v tables=%d pages", arm64.MMUEnabled(), arm64.TablePages())
	details["cntfrq_hz"] = fmt.Sprint(arm64.CounterFrequency())
	details["psci_version"] = fmt.Sprintf("%#x", arm64.PSCIVersion())

	// RAM from the device tree's /memory nodes (QEMU's virt fw_cfg has
	// no RAM size item).
	var ram []hv.Region
	if blob, err := deviceTree(); err != nil {
		errs = append(errs, "device tree: "+err.Error())
	} else if rs, err := fdt.Memory(blob); err != nil {
		errs = append(errs, "device tree: "+err.Error())
	} else {
		for i, r := range rs {
			ram = append(ram, hv.Region{Name: fmt.Sprintf("ram%d", i), Kind: hv.RAM, Base: hv.PA(r.Addr), Size: r.Size})
		}
	}
	if len(ram) == 0 {
		errs = append(errs, "no RAM found in the device tree; reporting the hypervisor's own RAM only")
		ram = []hv.Region{{Name: "ram0", Kind: hv.RAM, Base: ramStart, Size: ramSizeHV}}
	}

	cpus, err := FWCfg.CPUs()
	if err != nil {
		cpus, err = gicv3.CountRedistributors(reg.MMIO{Base: GICR_BASE}, GICR_FRAME, GICR_SIZE/GICR_FRAME)
		if err != nil {
			errs = append(errs, err.Error())
			cpus = 1
		}
	}

	features := map[string]bool{"el2": arm64.CurrentEL() == 2, "gicv3": true}
	if err := GICD.Init(); err != nil {
		errs = append(errs, err.Error())
		features["gicv3"] = false
	} else {
		details["gic_lines"] = fmt.Sprint(GICD.Lines())
	}
	rd := &gicv3.Redistributor{Regs: reg.MMIO{Base: GICR_BASE}}
	if err := rd.Init(); err != nil {
		errs = append(errs, err.Error())
	}
	if err := arm64.InitCPUInterface(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		details["errors"] = fmt.Sprint(errs)
	}

	return &hv.Platform{
		Board: Name,
		Arch:  "arm64",
		Mode:  mode,
		CPUs:  cpus,
		MemoryMap: append([]hv.Region{
			{Name: "gicd", Kind: hv.MMIO, Base: GICD_BASE, Size: GICD_SIZE},
			{Name: "gicr", Kind: hv.MMIO, Base: GICR_BASE, Size: GICR_SIZE},
			{Name: "uart0", Kind: hv.MMIO, Base: UART0_BASE, Size: UART0_SIZE},
			{Name: "fw_cfg", Kind: hv.MMIO, Base: FWCFG_BASE, Size: FWCFG_SIZE},
			{Name: "virtio-mmio", Kind: hv.MMIO, Base: VIRTIO_BASE, Size: VIRTIO_SIZE},
			{Name: "pcie-mmio", Kind: hv.MMIO, Base: PCIE_MMIO, Size: PCIE_MMIO_SZ},
			{Name: "pcie-ecam", Kind: hv.MMIO, Base: PCIE_ECAM, Size: PCIE_ECAM_SZ},
		}, ram...),
		HypervisorRAM: hv.Region{Name: "hypervisor", Kind: hv.RAM, Base: ramStart, Size: ramSizeHV},
		Features:      features,
		Details:       details,
		Console:       &hv.PolledConsole{UART: UART0},
		Uptime:        func() time.Duration { return time.Since(start) },
		Poweroff:      arm64.SystemOff,
	}
}

// EnableHypervisorTimer routes the EL2 physical timer's PPI (INTID 26,
// CNTHP) and the GIC maintenance interrupt (INTID 25) to CPU cpu; for a
// secondary CPU it first wakes and resets that CPU's redistributor (the
// boot CPU's was initialised at boot), for the boot CPU it also enables
// SGI_KICK, which secondaries send when a guest they run has exited. The
// hypervisor arms CNTHP while a guest runs to take the CPU back at the
// end of a slice or at a guest timer deadline; the maintenance interrupt
// brings it back when the guest completes a level-triggered virtual
// interrupt (ICH_LR<n>_EL2.EOI), so the line is sampled again at once.
func EnableHypervisorTimer(cpu int) error {
	if cpu < 0 || uintptr(cpu+1)*GICR_FRAME > GICR_SIZE {
		return fmt.Errorf("virt: no redistributor for cpu %d", cpu)
	}
	rd := &gicv3.Redistributor{Regs: reg.MMIO{Base: GICR_BASE + uintptr(cpu)*GICR_FRAME}}
	if cpu > 0 {
		if err := rd.Init(); err != nil {
			return err
		}
	} else if err := rd.EnablePPI(arm64.SGI_KICK); err != nil {
		return err
	}
	if err := rd.EnablePPI(arm64.INTID_MAINT); err != nil {
		return err
	}
	return rd.EnablePPI(arm64.INTID_CNTHP)
}

// MPIDR returns the affinity value QEMU's virt machine gives CPU cpu with
// GICv3: clusters of 16 CPUs (Aff0 = cpu % 16, Aff1 = cpu / 16).
func MPIDR(cpu int) uint64 { return uint64(cpu%16) | uint64(cpu/16)<<8 }

// UART0_INTID is the hypervisor console's interrupt (SPI 1).
const UART0_INTID = 33

// HostReserved lists what the hypervisor keeps on this board and no VM
// may be given as a passthrough device: the GIC, its console UART,
// fw_cfg and its own RAM. HostIRQs are the SPIs it keeps.
func HostReserved(p *hv.Platform) []hv.Region {
	return []hv.Region{
		{Name: "gicd", Kind: hv.MMIO, Base: GICD_BASE, Size: GICD_SIZE},
		{Name: "gicr", Kind: hv.MMIO, Base: GICR_BASE, Size: GICR_SIZE},
		{Name: "uart0", Kind: hv.MMIO, Base: UART0_BASE, Size: UART0_SIZE},
		{Name: "fw_cfg", Kind: hv.MMIO, Base: FWCFG_BASE, Size: FWCFG_SIZE},
		p.HypervisorRAM,
	}
}

// HostIRQs: see HostReserved.
var HostIRQs = []uint32{UART0_INTID}
