// board/qemu/q35: the qemu-q35-amd64 board.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package q35

import (
	"errors"
	"fmt"
	"runtime"
	"time"
	_ "unsafe"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/amd64"
	"github.com/tamavisor/tamavisor/soc/intel/i8254"
	"github.com/tamavisor/tamavisor/soc/intel/uart16550"
	"github.com/tamavisor/tamavisor/soc/qemu/fwcfg"
	"github.com/tamavisor/tamavisor/soc/reg"
)

// Name is the board name used by the Makefile, hvctl and the tests.
const Name = "qemu-q35-amd64"

// Fixed platform resources (PC architecture; QEMU hw/i386/pc.c, ich9).
const (
	COM1       = 0x3f8
	PIT_BASE   = 0x40
	NMI_SC     = 0x61
	LAPIC_BASE = 0xfee0_0000
	IOAPIC     = 0xfec0_0000
	HPET_BASE  = 0xfed0_0000
	// ICH9 ACPI PM1a control block as SeaBIOS programs PMBASE (0x600):
	// PM1a_CNT = PMBASE + 4 (ACPI 6.5 4.8.3.2.1).
	PM1A_CNT    = 0x604
	PM1_SLP_EN  = 1 << 13
	PM1_SLP_TYP = 10 // shift; QEMU's _S5 is SLP_TYP 0
	DEBUG_EXIT  = 0xf4
)

// Hypervisor RAM: the image's first segment is linked at 0x10000000
// (Makefile -T 0x10001000 for .text) and the runtime owns 256 MiB from
// there. That is the window cpuinit maps onto wherever the loader put the
// image (hv/amd64 reloc.go); the image's last PT_LOAD is stretched to the
// window's end so loaders reserve all of it. The board needs -m 512 or
// more.
const (
	ramStart       = 0x1000_0000
	ramSizeHV      = 0x1000_0000
	ramStackOffset = 0x100
)

//go:linkname runtimeRamStart runtime.ramStart
var runtimeRamStart uint64 = ramStart

//go:linkname runtimeRamSize runtime.ramSize
var runtimeRamSize uint64 = ramSizeHV

//go:linkname runtimeRamStackOffset runtime.ramStackOffset
var runtimeRamStackOffset uint64 = ramStackOffset

var (
	// UART0 is the COM1 console.
	UART0 = &uart16550.UART{Regs: reg.Port{Base: COM1}}
	// PIT is the 8254 used to calibrate the TSC.
	PIT = &i8254.PIT{Regs: reg.Port{Base: PIT_BASE}, Ctrl: reg.Port{Base: NMI_SC}}
	// FWCfg is QEMU's firmware configuration device.
	FWCfg = &fwcfg.Device{T: fwcfg.Ports{}}
)

//go:linkname hwinit0 runtime.hwinit0
func hwinit0() {
	amd64.EarlyInit()
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
	return amd64.Nanotime()
}

//go:linkname initRNG runtime.initRNG
func initRNG() {}

//go:linkname getRandomData runtime.getRandomData
func getRandomData(b []byte) {
	amd64.RandomData(b)
}

var bootErrors []string

//go:linkname hwinit1 runtime.hwinit1
func hwinit1() {
	runtime.Exit = func(code int32) {
		poweroff()
		amd64.Halt()
	}
	if err := UART0.Init(115200); err != nil {
		bootErrors = append(bootErrors, err.Error())
	}
	// TSC against 50 ms of PIT channel 2; the clock stays continuous.
	if hz, err := PIT.Calibrate(amd64.ReadTSC, 50); err != nil {
		bootErrors = append(bootErrors, "TSC calibration: "+err.Error())
	} else {
		amd64.TSC.Calibrate(amd64.ReadTSC(), hz)
	}
}

// poweroff enters ACPI S5 through PM1a_CNT; if the machine is still
// running, it writes isa-debug-exit (QEMU then exits with status 1).
func poweroff() error {
	reg.Out16(PM1A_CNT, 0<<PM1_SLP_TYP|PM1_SLP_EN)
	time.Sleep(100 * time.Millisecond)
	reg.Out8(DEBUG_EXIT, 0)
	time.Sleep(100 * time.Millisecond)
	return errors.New("q35: ACPI S5 via PM1a_CNT=0x604 and isa-debug-exit 0xf4 had no effect")
}

var start = time.Now()

// Platform describes the machine. Problems are reported in
// Details["errors"] rather than stopping the boot.
func Platform() *hv.Platform {
	errs := append([]string(nil), bootErrors...)
	f := amd64.DetectFeatures(amd64.CPUID)
	details := map[string]string{
		"cpu_vendor": f.Vendor,
		"cpu_brand":  f.Brand,
		"tsc_hz":     fmt.Sprint(amd64.TSC.Hz()),
		"rng":        amd64.RNGSource(),
		"time":       "TSC calibrated against 8254 PIT channel 2",
	}
	if f.SVM {
		details["svm_asids"] = fmt.Sprint(f.ASIDs)
	}

	mm := []hv.Region{
		{Name: "com1", Kind: hv.IOPort, Base: COM1, Size: 8},
		{Name: "ioapic", Kind: hv.MMIO, Base: IOAPIC, Size: 0x1000},
		{Name: "hpet", Kind: hv.MMIO, Base: HPET_BASE, Size: 0x400},
		{Name: "lapic", Kind: hv.MMIO, Base: LAPIC_BASE, Size: 0x1000},
	}
	br := bootResult()
	details["boot"] = br.Info.Protocol
	// W^X before anything records the host's CR0, CR3 or EFER (VMX
	// host state, the AP trampoline) and before live patching.
	if !amd64.WX().Enabled {
		if err := amd64.EnableWX(amd64.Boot().Reloc); err != nil {
			errs = append(errs, err.Error())
		}
	}
	details["wx"] = amd64.WX().String()
	if manifestVMs >= 0 {
		details["manifest"] = fmt.Sprintf("%d VMs from the boot module (amd64 starts no VMs yet)", manifestVMs)
	}
	if br.RAM != nil {
		// Multiboot2 or UEFI: the loader's map is the truth (it knows
		// what firmware reserved).
		mm = append(mm, br.RAM...)
	} else if b, err := FWCfg.ReadFile("etc/e820"); err != nil {
		errs = append(errs, "memory map: "+err.Error())
	} else if es, err := fwcfg.ParseE820(b); err != nil {
		errs = append(errs, "memory map: "+err.Error())
	} else {
		for i, e := range es {
			if e.Type == fwcfg.E820_RAM {
				mm = append(mm, hv.Region{Name: fmt.Sprintf("ram%d", i), Kind: hv.RAM, Base: hv.PA(e.Addr), Size: e.Len})
			}
		}
	}
	cpus, err := FWCfg.CPUs()
	if err != nil {
		errs = append(errs, "cpu count: "+err.Error())
		cpus = 1
	}
	if len(errs) > 0 {
		details["errors"] = fmt.Sprint(errs)
	}
	return &hv.Platform{
		Board:         Name,
		Arch:          "amd64",
		Mode:          "long mode, CPL0",
		CPUs:          cpus,
		MemoryMap:     mm,
		HypervisorRAM: hv.Region{Name: "hypervisor", Kind: hv.RAM, Base: hv.PA(br.Info.LoadBase), Size: ramSizeHV},
		Features:      map[string]bool{"svm": f.SVM, "npt": f.NPT, "nrips": f.NRIPS, "vmx": f.VMX},
		Details:       details,
		Console:       &hv.PolledConsole{UART: UART0},
		Uptime:        func() time.Duration { return time.Since(start) },
		Poweroff:      poweroff,
		Boot:          &br.Info,
	}
}
