// image/boot: what the boot loader or firmware handed to tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

// physMem is sparse fake physical memory.
type physMem map[uint64][]byte

func (m physMem) read(pa uint64, n int) ([]byte, error) {
	for base, b := range m {
		if pa >= base && pa-base+uint64(n) <= uint64(len(b)) {
			return append([]byte(nil), b[pa-base:pa-base+uint64(n)]...), nil
		}
	}
	return nil, fmt.Errorf("no memory at %#x+%d", pa, n)
}

// mbi assembles a Multiboot2 information structure from tags.
type mbi struct{ b []byte }

func (m *mbi) tag(typ uint32, payload []byte) {
	t := binary.LittleEndian.AppendUint32(nil, typ)
	t = binary.LittleEndian.AppendUint32(t, uint32(8+len(payload)))
	t = append(t, payload...)
	for len(t)%8 != 0 {
		t = append(t, 0)
	}
	m.b = append(m.b, t...)
}

func (m *mbi) bytes() []byte {
	m.tag(0, nil)
	out := binary.LittleEndian.AppendUint32(nil, uint32(8+len(m.b)))
	out = binary.LittleEndian.AppendUint32(out, 0)
	return append(out, m.b...)
}

func u32s(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, x)
	}
	return b
}

func rsdp(v2 bool, rsdt uint32, xsdt uint64) []byte {
	b := make([]byte, 36)
	copy(b, "RSD PTR ")
	binary.LittleEndian.PutUint32(b[16:], rsdt)
	if v2 {
		b[15] = 2
		binary.LittleEndian.PutUint32(b[20:], 36)
		binary.LittleEndian.PutUint64(b[24:], xsdt)
	}
	b[8] = -sum(b[:20])
	if v2 {
		b[32] = -sum(b[:36])
	}
	return b
}

func grubMBI(loadBase uint32) []byte {
	var m mbi
	m.tag(1, []byte("/boot/tamavisor.elf console=com1\x00"))
	m.tag(2, []byte("GRUB 2.06-13+deb12u1\x00"))
	m.tag(3, append(u32s(0x0200_0000, 0x0200_0123), []byte("manifest.json role=manifest\x00")...))
	m.tag(3, append(u32s(0x0300_0000, 0x0300_1000), []byte("testguest\x00")...))
	mm := u32s(24, 0)
	for _, e := range [][3]uint64{{0, 0x9fc00, 1}, {0x9fc00, 0x400, 2}, {0x100000, 0x3fee0000, 1}, {0xfffc0000, 0x40000, 2}} {
		mm = binary.LittleEndian.AppendUint64(mm, e[0])
		mm = binary.LittleEndian.AppendUint64(mm, e[1])
		mm = append(mm, u32s(uint32(e[2]), 0)...)
	}
	m.tag(6, mm)
	m.tag(15, rsdp(true, 0x3ffe0000, 0x3ffe1000))
	m.tag(21, u32s(loadBase))
	return m.bytes()
}

func TestCollectMultiboot2(t *testing.T) {
	const at = 0x8000
	mem := physMem{at: grubMBI(0x2fc0_0000)}
	r := Collect(Entry{Magic: MB2_BOOTLOADER_MAGIC, Info: at, LinkBase: 0x1000_0000, LoadBase: 0x2fc0_0000, Size: 0x1000_0000}, mem.read)
	b := r.Info
	if len(b.Errors) != 0 {
		t.Fatalf("errors: %q", b.Errors)
	}
	if b.Protocol != "multiboot2" || b.Loader != "GRUB 2.06-13+deb12u1" || b.Cmdline != "/boot/tamavisor.elf console=com1" {
		t.Errorf("boot = %+v", b)
	}
	if b.Offset() != 0x1fc0_0000 {
		t.Errorf("offset %#x", b.Offset())
	}
	want := []hv.BootModule{
		{Name: "manifest.json", Cmdline: "manifest.json role=manifest", Base: 0x0200_0000, Size: 0x123},
		{Name: "testguest", Cmdline: "testguest", Base: 0x0300_0000, Size: 0x1000},
	}
	if fmt.Sprint(b.Modules) != fmt.Sprint(want) {
		t.Errorf("modules = %+v", b.Modules)
	}
	if len(r.RAM) != 2 || r.RAM[0] != (hv.Region{Name: "ram0", Kind: hv.RAM, Base: 0, Size: 0x9fc00}) ||
		r.RAM[1].Base != 0x100000 || r.RAM[1].Size != 0x3fee0000 {
		t.Errorf("RAM = %+v", r.RAM)
	}
	if b.ACPIRoot != 0x3ffe1000 || !strings.Contains(b.ACPISource, "tag 15") {
		t.Errorf("ACPI %#x from %q", b.ACPIRoot, b.ACPISource)
	}
}

func TestCollectModuleChecks(t *testing.T) {
	var m mbi
	mod := func(start, end uint32, cmd string) {
		m.tag(3, append(u32s(start, end), []byte(cmd+"\x00")...))
	}
	mod(0x0200_0000, 0x0200_1000, "manifest")
	mod(0x0300_0000, 0x0300_1000, "kernel a")
	mod(0x0400_0000, 0x0400_1000, "kernel b") // duplicate name
	mod(0x0500_0000, 0x0500_0000, "empty")
	mod(0x2000_0000, 0x3100_0000, "huge")
	mod(0x1000_1000, 0x1000_2000, "inside-hv")
	mod(0x0200_0800, 0x0200_1800, "overlapping")
	mod(0x0700_0000, 0x0700_1000, "")
	mod(0x0800_0000, 0x0800_1000, "initrd")
	mem := physMem{0x8000: m.bytes()}
	r := Collect(Entry{Magic: MB2_BOOTLOADER_MAGIC, Info: 0x8000, LinkBase: 0x1000_0000, LoadBase: 0x1000_0000, Size: 0x1000_0000}, mem.read)
	var names []string
	for _, x := range r.Info.Modules {
		names = append(names, x.Name)
	}
	if fmt.Sprint(names) != "[initrd]" {
		t.Errorf("usable modules %v", names)
	}
	for _, want := range []string{`"kernel" at 0x3000000 (4096 bytes) is given 2 times`, `"empty" at 0x5000000 (0 bytes) is empty`,
		`"huge"`, `"inside-hv"`, `overlaps the hypervisor`, `"overlapping"`, `has no name`, `"manifest" at 0x2000000 (4096 bytes) overlaps module "overlapping"`} {
		found := false
		for _, e := range r.Info.Errors {
			found = found || strings.Contains(e, want)
		}
		if !found {
			t.Errorf("no error containing %q in %q", want, r.Info.Errors)
		}
	}
	if _, ok := r.Module("initrd"); !ok {
		t.Error("Module(initrd) not found")
	}
	if miss := r.MissingImages("vm1", "images/initrd", "kernel", ""); len(miss) != 1 || !strings.Contains(miss[0], `VM "vm1" needs image "kernel"`) {
		t.Errorf("MissingImages = %q", miss)
	}
	if _, ok := r.Module("manifest"); ok {
		t.Error("Module(manifest) found although it overlaps another module")
	}
}

func TestCollectLoadBaseMismatch(t *testing.T) {
	mem := physMem{0x8000: grubMBI(0x2fc0_0000)}
	r := Collect(Entry{Magic: MB2_BOOTLOADER_MAGIC, Info: 0x8000, LinkBase: 0x1000_0000, LoadBase: 0x2fa0_0000}, mem.read)
	if len(r.Info.Errors) != 1 || !strings.Contains(r.Info.Errors[0], "load base tag says 0x2fc00000") {
		t.Errorf("errors = %q", r.Info.Errors)
	}
	// The rest is still decoded.
	if len(r.Info.Modules) != 2 || r.RAM == nil {
		t.Errorf("modules %d, RAM %v", len(r.Info.Modules), r.RAM)
	}
}

func TestCollectLoadOutsideRAM(t *testing.T) {
	// GRUB's cutmem hides a range from the map it hands over, but its
	// allocator may still have put the image there.
	mem := physMem{0x8000: grubMBI(0x4000_0000)}
	r := Collect(Entry{Magic: MB2_BOOTLOADER_MAGIC, Info: 0x8000, LinkBase: 0x1000_0000, LoadBase: 0x4000_0000, Size: 0x1000_0000}, mem.read)
	if len(r.Info.Errors) != 1 || !strings.Contains(r.Info.Errors[0], "does not list as RAM") {
		t.Errorf("errors = %q", r.Info.Errors)
	}
}

func TestCollectMalformed(t *testing.T) {
	bad := grubMBI(0x1000_0000)
	binary.LittleEndian.PutUint32(bad[8+4:], 0xffff) // first tag's size runs past the end
	for name, c := range map[string]struct {
		mem  physMem
		want string
	}{
		"unreadable":     {physMem{}, "MBI at 0x8000"},
		"huge":           {physMem{0x8000: u32s(MaxMBI+1, 0)}, "total_size"},
		"tiny":           {physMem{0x8000: u32s(8, 0)}, "total_size"},
		"runs past":      {physMem{0x8000: bad}, "multiboot2:"},
		"truncated read": {physMem{0x8000: bad[:40]}, "MBI at 0x8000"},
	} {
		r := Collect(Entry{Magic: MB2_BOOTLOADER_MAGIC, Info: 0x8000, LinkBase: 0x1000_0000, LoadBase: 0x1000_0000}, c.mem.read)
		if len(r.Info.Errors) == 0 || !strings.Contains(r.Info.Errors[0], c.want) {
			t.Errorf("%s: errors = %q", name, r.Info.Errors)
		}
		if r.Info.Protocol != "multiboot2" || r.RAM != nil {
			t.Errorf("%s: protocol %q RAM %v", name, r.Info.Protocol, r.RAM)
		}
	}
}

func TestCollectPVHAndUnknown(t *testing.T) {
	mem := physMem{0x6000: u32s(PVH_START_MAGIC, 1)}
	r := Collect(Entry{Magic: 0, Info: 0x6000, LinkBase: 0x1000_0000, LoadBase: 0x1000_0000}, mem.read)
	if r.Info.Protocol != "pvh" || len(r.Info.Errors) != 0 || r.RAM != nil {
		t.Errorf("pvh: %+v", r.Info)
	}
	r = Collect(Entry{Magic: 0x1234, Info: 0x7000}, mem.read)
	if r.Info.Protocol != "unknown" || len(r.Info.Errors) != 1 {
		t.Errorf("unknown: %+v", r.Info)
	}
}

func efiDesc(typ uint32, base, pages uint64) []byte {
	d := make([]byte, 48)
	binary.LittleEndian.PutUint32(d, typ)
	binary.LittleEndian.PutUint64(d[8:], base)
	binary.LittleEndian.PutUint64(d[24:], pages)
	return d
}

func systab(tables uint64, n uint64) []byte {
	st := make([]byte, EFI_ST_SIZE)
	copy(st, "IBI SYST")
	binary.LittleEndian.PutUint64(st[EFI_ST_NUMTABLES:], n)
	binary.LittleEndian.PutUint64(st[EFI_ST_CONFIG:], tables)
	return st
}

func TestCollectUEFI(t *testing.T) {
	var emap []byte
	emap = append(emap, efiDesc(EfiConventionalMemory, 0, 0x9f)...)
	emap = append(emap, efiDesc(6, 0x9f000, 1)...) // runtime services data: not RAM
	emap = append(emap, efiDesc(EfiBootServicesData, 0x100000, 0x100)...)
	emap = append(emap, efiDesc(EfiConventionalMemory, 0x200000, 0x3000)...)
	emap = append(emap, efiDesc(EfiLoaderData, 0x3200000, 0x10)...)
	ct := make([]byte, 2*EFI_CONFIG_SIZE)
	copy(ct[EFI_CONFIG_SIZE:], efiACPI20GUID)
	binary.LittleEndian.PutUint64(ct[EFI_CONFIG_SIZE+16:], 0x7000)
	mem := physMem{0x5000: systab(0x6000, 2), 0x6000: ct, 0x7000: rsdp(true, 0, 0x3ff00000)}
	r := Collect(Entry{Magic: UEFI_MAGIC, PE: true, EFIEntry: true, EBSDone: true, EFISystab: 0x5000,
		EFIMap: emap, DescSize: 48, LinkBase: 0x1000_0000, LoadBase: 0x1000_0000}, mem.read)
	b := r.Info
	if b.Protocol != "uefi" || b.ExitBootServices != "tamavisor" || len(b.Errors) != 0 {
		t.Fatalf("boot = %+v", b)
	}
	if b.ACPIRoot != 0x3ff00000 {
		t.Errorf("ACPI root %#x", b.ACPIRoot)
	}
	// 0-0x9f000 and 0x100000-0x3210000 (merged), runtime data excluded.
	if len(r.RAM) != 2 || r.RAM[0].Size != 0x9f000 || r.RAM[1].Base != 0x100000 || r.RAM[1].End() != 0x3210000 {
		t.Errorf("RAM = %+v", r.RAM)
	}

	// A failed ExitBootServices, a malformed map, a bad system table.
	r = Collect(Entry{Magic: UEFI_MAGIC, PE: true, EFIEntry: true, EBSTries: 8, EBSStatus: 0x8000000000000002, EFISystab: 0x5000}, mem.read)
	if len(r.Info.Errors) != 1 || !strings.Contains(r.Info.Errors[0], "after 8 tries") {
		t.Errorf("EBS failure: %q", r.Info.Errors)
	}
	r = Collect(Entry{Magic: UEFI_MAGIC, PE: true, EFIEntry: true, EBSDone: true, EFISystab: 0x5000, EFIMap: emap[:50], DescSize: 48}, mem.read)
	if len(r.Info.Errors) != 1 || !strings.Contains(r.Info.Errors[0], "malformed") {
		t.Errorf("bad map: %q", r.Info.Errors)
	}
	mem[0x5000] = systab(0x6000, 100000)
	r = Collect(Entry{Magic: UEFI_MAGIC, PE: true, EFISystab: 0x5000}, mem.read)
	if len(r.Info.Errors) != 1 || !strings.Contains(r.Info.Errors[0], "configuration tables") {
		t.Errorf("bad systab: %q", r.Info.Errors)
	}
}

func TestRSDPChecks(t *testing.T) {
	var r Result
	bad := rsdp(true, 1, 2)
	bad[30]++ // breaks the extended checksum only
	r.acpiFromRSDP(bad, "test", func(f string, a ...any) { r.Info.Errors = append(r.Info.Errors, fmt.Sprintf(f, a...)) })
	if r.Info.ACPIRoot != 0 || len(r.Info.Errors) != 1 {
		t.Errorf("bad v2 RSDP accepted: %+v", r.Info)
	}
	r = Result{}
	r.acpiFromRSDP(rsdp(false, 0xe0000, 0), "test", func(string, ...any) { t.Error("v1 RSDP rejected") })
	if r.Info.ACPIRoot != 0xe0000 {
		t.Errorf("v1 root %#x", r.Info.ACPIRoot)
	}
}

// FuzzCollect feeds arbitrary bytes as the MBI, the system table and
// the UEFI memory map: Collect must never panic and must report
// anything it could not use.
func FuzzCollect(f *testing.F) {
	f.Add(grubMBI(0x1000_0000), []byte{}, uint8(48))
	f.Add(grubMBI(0x2fc0_0000)[:64], systab(0x6000, 1), uint8(40))
	f.Add(u32s(16, 0, 0, 8), efiDesc(7, 0, 1), uint8(48))
	f.Fuzz(func(t *testing.T, m, other []byte, desc uint8) {
		mem := physMem{0x8000: m, 0x5000: other, 0x6000: other}
		for _, e := range []Entry{
			{Magic: MB2_BOOTLOADER_MAGIC, Info: 0x8000, LinkBase: 0x1000_0000, LoadBase: 0x1000_0000},
			{Magic: MB2_BOOTLOADER_MAGIC, Info: 0x8000, EFIEntry: true, EBSDone: true, EFIMap: other, DescSize: uint64(desc)},
			{Magic: UEFI_MAGIC, PE: true, EFISystab: 0x5000, EFIEntry: true, EBSDone: true, EFIMap: m, DescSize: uint64(desc)},
		} {
			r := Collect(e, mem.read)
			for _, reg := range r.RAM {
				if reg.Size == 0 || reg.End() < reg.Base {
					t.Fatalf("bad RAM region %+v", reg)
				}
			}
			if len(r.Info.Modules) > MaxModules {
				t.Fatalf("%d modules", len(r.Info.Modules))
			}
		}
	})
}
