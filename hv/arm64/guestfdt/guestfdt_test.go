// hv/arm64/guestfdt: the devicetree tamavisor hands to an arm64 Linux guest.
// SPDX-License-Identifier: BSD-3-Clause

package guestfdt

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
	sfdt "github.com/tamavisor/tamavisor/soc/fdt"
)

func fullConfig() Config {
	c := VirtConfig(4, Range{VirtMemBase, 512 << 20})
	c.Bootargs = "console=ttyAMA0 earlycon=pl011,0x9000000 rdinit=/init"
	c.Initrd = Range{0x4800_0000, 0x12_3456}
	c.RNGSeed = []byte{1, 2, 3, 4, 5, 6, 7, 8}
	c.Devices = []Device{{
		Name:        "virtio_mmio",
		Base:        0x0a00_0000,
		Size:        0x200,
		Compatible:  []string{"virtio,mmio"},
		SPIs:        []uint32{16, 17},
		DMACoherent: true,
	}}
	return c
}

func parse(t *testing.T, b []byte) *sfdt.Node {
	t.Helper()
	blob, err := sfdt.ParseBlob(b)
	if err != nil {
		t.Fatal(err)
	}
	if blob.BootCPU != 0 || len(blob.Reservations) != 0 {
		t.Fatalf("boot cpu %d reservations %v", blob.BootCPU, blob.Reservations)
	}
	return blob.Root
}

func find(t *testing.T, root *sfdt.Node, path string) *sfdt.Node {
	t.Helper()
	n := root.Find(path)
	if n == nil {
		t.Fatalf("no node %s", path)
	}
	return n
}

func wantStrings(t *testing.T, n *sfdt.Node, prop string, want ...string) {
	t.Helper()
	got, err := n.Strings(prop)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("%s %s = %q (%v), want %q", n.Path(), prop, got, err, want)
	}
}

func wantU32s(t *testing.T, n *sfdt.Node, prop string, want ...uint32) {
	t.Helper()
	got, err := n.U32s(prop)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("%s %s = %#x (%v), want %#x", n.Path(), prop, got, err, want)
	}
}

func wantReg(t *testing.T, n *sfdt.Node, want ...sfdt.Range) {
	t.Helper()
	got, err := n.Reg()
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("%s reg = %+v (%v), want %+v", n.Path(), got, err, want)
	}
}

// TestGenerate checks every property of the full tree.
func TestGenerate(t *testing.T) {
	cfg := fullConfig()
	b, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	root := parse(t, b)

	wantU32s(t, root, "#address-cells", 2)
	wantU32s(t, root, "#size-cells", 2)
	wantStrings(t, root, "compatible", "tamavisor,vm", "linux,dummy-virt")
	wantStrings(t, root, "model", "tamavisor VM")

	gic := find(t, root, "/intc@8000000")
	wantStrings(t, gic, "compatible", "arm,gic-v3")
	wantU32s(t, gic, "#interrupt-cells", 3)
	wantU32s(t, gic, "#redistributor-regions", 1)
	if !gic.Has("interrupt-controller") {
		t.Fatal("GIC is not an interrupt-controller")
	}
	wantReg(t, gic, sfdt.Range{Addr: 0x0800_0000, Size: 0x1_0000}, sfdt.Range{Addr: 0x080a_0000, Size: 4 * 0x2_0000})
	ph, err := gic.U32("phandle")
	if err != nil || ph == 0 {
		t.Fatalf("GIC phandle %d %v", ph, err)
	}
	wantU32s(t, root, "interrupt-parent", ph)

	psci := find(t, root, "/psci")
	wantStrings(t, psci, "compatible", "arm,psci-1.0", "arm,psci-0.2")
	wantStrings(t, psci, "method", "smc")

	mem := find(t, root, "/memory@40000000")
	wantStrings(t, mem, "device_type", "memory")
	wantReg(t, mem, sfdt.Range{Addr: 0x4000_0000, Size: 512 << 20})
	if rs, err := sfdt.Memory(b); err != nil || len(rs) != 1 || rs[0] != (sfdt.Range{Addr: 0x4000_0000, Size: 512 << 20}) {
		t.Fatalf("Memory = %+v %v", rs, err)
	}

	cpus := find(t, root, "/cpus")
	wantU32s(t, cpus, "#address-cells", 1)
	wantU32s(t, cpus, "#size-cells", 0)
	if len(cpus.Children) != 4 {
		t.Fatalf("%d cpus", len(cpus.Children))
	}
	for i, cpu := range cpus.Children {
		if cpu.Name != "cpu@"+string(rune('0'+i)) {
			t.Fatalf("cpu node %q", cpu.Name)
		}
		wantStrings(t, cpu, "device_type", "cpu")
		wantStrings(t, cpu, "compatible", "arm,armv8")
		wantStrings(t, cpu, "enable-method", "psci")
		wantU32s(t, cpu, "reg", uint32(i))
	}

	timer := find(t, root, "/timer")
	wantStrings(t, timer, "compatible", "arm,armv8-timer")
	wantU32s(t, timer, "interrupts", 1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4)
	if !timer.Has("always-on") {
		t.Fatal("timer not always-on")
	}

	uart := find(t, root, "/pl011@9000000")
	wantStrings(t, uart, "compatible", "arm,pl011", "arm,primecell")
	wantReg(t, uart, sfdt.Range{Addr: 0x0900_0000, Size: 0x1000})
	wantU32s(t, uart, "interrupts", 0, 1, 4)
	wantStrings(t, uart, "clock-names", "uartclk", "apb_pclk")
	clk := find(t, root, "/apb-pclk")
	wantStrings(t, clk, "compatible", "fixed-clock")
	wantU32s(t, clk, "#clock-cells", 0)
	wantU32s(t, clk, "clock-frequency", 24_000_000)
	cph, _ := clk.U32("phandle")
	if cph == 0 || cph == ph {
		t.Fatalf("clock phandle %d (GIC %d)", cph, ph)
	}
	wantU32s(t, uart, "clocks", cph, cph)

	wantStrings(t, find(t, root, "/aliases"), "serial0", "/pl011@9000000")
	chosen := find(t, root, "/chosen")
	wantStrings(t, chosen, "bootargs", cfg.Bootargs)
	wantStrings(t, chosen, "stdout-path", "/pl011@9000000")
	if s, _ := chosen.U64("linux,initrd-start"); s != 0x4800_0000 {
		t.Fatalf("initrd-start %#x", s)
	}
	if e, _ := chosen.U64("linux,initrd-end"); e != 0x4812_3456 {
		t.Fatalf("initrd-end %#x", e)
	}
	if seed, _ := chosen.Prop("rng-seed"); !bytes.Equal(seed, cfg.RNGSeed) {
		t.Fatalf("rng-seed % x", seed)
	}
	// stdout-path resolves to the UART, directly and through the alias.
	if root.Find("/pl011@9000000") != uart {
		t.Fatal("stdout-path does not resolve")
	}

	dev := find(t, root, "/virtio_mmio@a000000")
	wantStrings(t, dev, "compatible", "virtio,mmio")
	wantReg(t, dev, sfdt.Range{Addr: 0x0a00_0000, Size: 0x200})
	wantU32s(t, dev, "interrupts", 0, 16, 4, 0, 17, 4)
	if !dev.Has("dma-coherent") {
		t.Fatal("no dma-coherent")
	}
}

// TestMinimal: one vCPU, no UART, no initrd, HVC conduit, custom timer
// PPIs and GIC layout.
func TestMinimal(t *testing.T) {
	b, err := Generate(Config{
		Memory:     Range{0x8000_0000, 64 << 20},
		VCPUs:      1,
		GICD:       Range{0x2f00_0000, 0x1_0000},
		GICR:       Range{0x2f10_0000, 0x10_0000},
		Timer:      &TimerPPIs{SecurePhys: 0, NonSecurePhys: 15, Virt: 12, Hyp: 9},
		PSCIMethod: "hvc",
	})
	if err != nil {
		t.Fatal(err)
	}
	root := parse(t, b)
	wantStrings(t, find(t, root, "/psci"), "method", "hvc")
	wantU32s(t, find(t, root, "/timer"), "interrupts", 1, 0, 4, 1, 15, 4, 1, 12, 4, 1, 9, 4)
	wantReg(t, find(t, root, "/intc@2f000000"), sfdt.Range{Addr: 0x2f00_0000, Size: 0x1_0000}, sfdt.Range{Addr: 0x2f10_0000, Size: 0x10_0000})
	if len(find(t, root, "/cpus").Children) != 1 {
		t.Fatal("cpus")
	}
	chosen := find(t, root, "/chosen")
	for _, p := range []string{"bootargs", "stdout-path", "linux,initrd-start", "linux,initrd-end", "rng-seed"} {
		if chosen.Has(p) {
			t.Errorf("chosen has %s", p)
		}
	}
	if root.Find("/aliases") != nil || root.Find("/apb-pclk") != nil || root.Find("pl011") != nil {
		t.Fatal("UART nodes without a UART")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(c *Config)
		msg  string
	}{
		{"no vcpus", func(c *Config) { c.VCPUs = 0 }, "0 vCPUs"},
		{"many vcpus", func(c *Config) { c.VCPUs = MaxVCPUs + 1 }, "17 vCPUs"},
		{"no memory", func(c *Config) { c.Memory.Size = 0 }, "memory is empty"},
		{"memory wraps", func(c *Config) { c.Memory = Range{0xffff_ffff_ffff_f000, 0x2000} }, "wraps"},
		{"memory unaligned", func(c *Config) { c.Memory.Size = 0x1800 }, "page-aligned"},
		{"memory over gic", func(c *Config) { c.Memory = Range{0x0800_0000, 1 << 30}; c.Initrd = Range{} }, "overlaps"},
		{"uart in gicr", func(c *Config) { c.UART.Base = 0x080b_0000 }, "overlaps"},
		{"small gicd", func(c *Config) { c.GICD.Size = 0x1000 }, "distributor"},
		{"small gicr", func(c *Config) { c.GICR.Size = 0x2_0000 }, "redistributor"},
		{"timer ppi", func(c *Config) { c.Timer = &TimerPPIs{16, 14, 11, 10} }, "timer PPI 16"},
		{"psci", func(c *Config) { c.PSCIMethod = "svc" }, "PSCI method"},
		{"bootargs nul", func(c *Config) { c.Bootargs = "a\x00b" }, "bootargs"},
		{"bootargs long", func(c *Config) { c.Bootargs = strings.Repeat("x", 2048) }, "bootargs"},
		{"rng seed", func(c *Config) { c.RNGSeed = make([]byte, MaxRNGSeed+1) }, "rng-seed"},
		{"initrd outside", func(c *Config) { c.Initrd = Range{0x3000_0000, 0x1000} }, "initrd"},
		{"initrd past end", func(c *Config) { c.Initrd = Range{0x5fff_f000, 0x2000} }, "initrd"},
		{"initrd wraps", func(c *Config) { c.Initrd = Range{0x4000_0000, ^uint64(0)} }, "initrd"},
		{"uart spi", func(c *Config) { c.UART.SPI = MaxSPI }, "SPI 988"},
		{"gic spis", func(c *Config) { c.GICSPIs = 1 }, "SPI 1 outside the GIC's 1"},
		{"negative spis", func(c *Config) { c.GICSPIs = -1 }, "negative"},
		{"dev name", func(c *Config) { c.Devices[0].Name = "virtio mmio" }, "node-name"},
		{"dev unit", func(c *Config) { c.Devices[0].Name = "virtio@1" }, "node-name"},
		{"dev memory", func(c *Config) { c.Devices[0].Name = "memory" }, "reserved"},
		{"dev compatible", func(c *Config) { c.Devices[0].Compatible = nil }, "compatible is empty"},
		{"dev compatible nul", func(c *Config) { c.Devices[0].Compatible = []string{"a\x00"} }, "without NUL"},
		{"dev spi shared", func(c *Config) { c.Devices[0].SPIs = []uint32{1} }, "already used by UART"},
		{"dev spi twice", func(c *Config) { c.Devices[0].SPIs = []uint32{5, 5} }, "already used"},
		{"dev flags", func(c *Config) { c.Devices[0].IRQFlags = IRQ_TYPE_LEVEL_LOW }, "IRQ flags"},
		{"dev unaligned", func(c *Config) { c.Devices[0].Base = 0x0a00_0200 }, "page-aligned"},
		{"dev empty", func(c *Config) { c.Devices[0].Size = 0 }, "is empty"},
		{"dev overlap", func(c *Config) {
			d := c.Devices[0]
			d.Name, d.SPIs = "other", nil
			c.Devices = append(c.Devices, d)
		}, "overlaps"},
		{"dev in memory", func(c *Config) { c.Devices[0].Base = 0x4100_0000 }, "overlaps"},
		{"many devices", func(c *Config) { c.Devices = make([]Device, MaxDevices+1) }, "devices"},
		{"many dev spis", func(c *Config) { c.Devices[0].SPIs = make([]uint32, MaxDeviceSPIs+1) }, "SPIs"},
	} {
		c := fullConfig()
		tc.mod(&c)
		b, err := Generate(c)
		if !errors.Is(err, ErrConfig) || b != nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want ErrConfig with %q", tc.name, err, tc.msg)
		}
	}
}

// TestConfigNotModified: Generate applies defaults to a copy.
func TestConfigNotModified(t *testing.T) {
	c := VirtConfig(2, Range{VirtMemBase, 1 << 30})
	before := *c.UART
	if _, err := Generate(c); err != nil {
		t.Fatal(err)
	}
	if c.PSCIMethod != "" || c.GICR != (Range{}) || c.Timer != nil || *c.UART != before {
		t.Fatalf("config changed: %+v", c)
	}
}

// TestDTC decompiles the generated tree with the reference devicetree
// compiler when it is installed; dtc must accept it without warnings.
func TestDTC(t *testing.T) {
	dtc, err := exec.LookPath("dtc")
	if err != nil {
		t.Skip("SKIP: dtc not installed")
	}
	b, err := Generate(fullConfig())
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "vm.dtb")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(dtc, "-I", "dtb", "-O", "dts", f)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() != 0 {
		t.Fatalf("dtc: %v\n%s\n%s", err, stderr.Bytes(), out)
	}
	for _, want := range []string{
		`compatible = "arm,gic-v3";`,
		`interrupts = <0x01 0x0d 0x04 0x01 0x0e 0x04 0x01 0x0b 0x04 0x01 0x0a 0x04>;`,
		`stdout-path = "/pl011@9000000";`,
		`method = "smc";`,
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("dtc output lacks %q:\n%s", want, out)
		}
	}
}

// FuzzGenerate guards the Config checks: whatever the fields, Generate
// never panics, and either fails with ErrConfig or returns a blob that
// soc/fdt parses back with the configured memory, vCPU count and
// initrd range.
func FuzzGenerate(f *testing.F) {
	f.Add(uint64(VirtMemBase), uint64(512<<20), uint8(4), uint64(VirtUARTBase), uint32(1),
		"console=ttyAMA0", uint64(0x4800_0000), uint64(0x1000), "smc", "virtio_mmio", uint64(0x0a00_0000), uint32(16))
	f.Add(uint64(0), uint64(0x1000), uint8(1), uint64(0x0900_0000), uint32(987),
		"", uint64(0), uint64(0), "hvc", "x", uint64(0x1_0000_0000), uint32(0))
	f.Add(uint64(0xffff_ffff_ffff_f000), uint64(0x1000), uint8(17), uint64(0x0800_0000), uint32(988),
		"a\x00b", uint64(1), uint64(1<<63), "", "memory", uint64(0x0900_0000), uint32(1))
	f.Fuzz(func(t *testing.T, memBase, memSize uint64, vcpus uint8, uartBase uint64, spi uint32,
		bootargs string, initrdBase, initrdSize uint64, method, devName string, devBase uint64, devSPI uint32) {
		c := Config{
			Memory:     Range{hv.IPA(memBase), memSize},
			VCPUs:      int(vcpus),
			UART:       &UART{Base: hv.IPA(uartBase), SPI: spi},
			PSCIMethod: method,
			Bootargs:   bootargs,
			Initrd:     Range{hv.IPA(initrdBase), initrdSize},
			Devices: []Device{{Name: devName, Base: hv.IPA(devBase), Size: 0x1000,
				Compatible: []string{"vendor,dev"}, SPIs: []uint32{devSPI}}},
		}
		b, err := Generate(c)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error not wrapping ErrConfig: %v", err)
			}
			return
		}
		rs, err := sfdt.Memory(b)
		if err != nil || len(rs) != 1 || rs[0] != (sfdt.Range{Addr: memBase, Size: memSize}) {
			t.Fatalf("Memory = %+v, %v; want %#x+%#x", rs, err, memBase, memSize)
		}
		root, err := sfdt.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(root.Find("/cpus").Children); n != int(vcpus) {
			t.Fatalf("%d cpus, want %d", n, vcpus)
		}
		chosen := root.Find("/chosen")
		if initrdSize != 0 {
			s, err1 := chosen.U64("linux,initrd-start")
			e, err2 := chosen.U64("linux,initrd-end")
			if err1 != nil || err2 != nil || s != initrdBase || e != initrdBase+initrdSize {
				t.Fatalf("initrd %#x-%#x (%v %v)", s, e, err1, err2)
			}
		}
		if bootargs != "" {
			if got, err := chosen.String("bootargs"); err != nil || got != bootargs {
				t.Fatalf("bootargs %q %v", got, err)
			}
		}
	})
}
