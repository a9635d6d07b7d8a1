// image/multiboot2: tests for the MBI parser.
// SPDX-License-Identifier: BSD-3-Clause

package multiboot2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// cat concatenates little-endian encodings of its arguments: uint8,
// uint16, uint32, uint64, string (raw bytes, no NUL added) and []byte.
func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case uint8:
			b = append(b, v)
		case uint16:
			b = binary.LittleEndian.AppendUint16(b, v)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, v)
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, v)
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("cat: unsupported %T", p))
		}
	}
	return b
}

// builder assembles an MBI. Offsets it returns are relative to the MBI.
type builder struct{ b []byte }

func newBuilder() *builder { return &builder{b: make([]byte, 8)} }

// tag appends a well-formed tag with the given body and pads to 8 bytes.
// It returns the tag's offset.
func (m *builder) tag(typ uint32, body ...any) int {
	p := cat(body...)
	return m.raw(typ, uint32(8+len(p)), p, true)
}

// raw appends a tag header claiming size, followed by body, padded to 8
// bytes if pad is set. It returns the tag's offset.
func (m *builder) raw(typ, size uint32, body []byte, pad bool) int {
	off := len(m.b)
	m.b = append(m.b, cat(typ, size, body)...)
	if pad {
		for len(m.b)%8 != 0 {
			m.b = append(m.b, 0)
		}
	}
	return off
}

func (m *builder) end() int { return m.tag(TagEnd) }

// bytes sets total_size to the current length and returns the MBI.
func (m *builder) bytes() []byte {
	binary.LittleEndian.PutUint32(m.b[0:], uint32(len(m.b)))
	return m.b
}

// bytesTotal returns the MBI with total_size forced to total.
func (m *builder) bytesTotal(total uint32) []byte {
	binary.LittleEndian.PutUint32(m.b[0:], total)
	return m.b
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func mustParse(t *testing.T, b []byte) *Info {
	t.Helper()
	info, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return info
}

func TestMinimal(t *testing.T) {
	m := newBuilder()
	m.end()
	info := mustParse(t, m.bytes())
	if info.TotalSize != 16 || len(info.Tags) != 0 || len(info.Warnings) != 0 {
		t.Fatalf("got %+v", info)
	}
}

func TestRoundTripAllTags(t *testing.T) {
	ctl, mode := seq(512, 1), seq(256, 7)
	colorInfo := cat(uint8(16), uint8(8), uint8(8), uint8(8), uint8(0), uint8(8))
	elf := seq(3*64, 0x40)
	rsdpOld := seq(20, 0x50)
	rsdpNew := seq(36, 0x60)
	dhcp := seq(300, 0x11)
	smbios := seq(31, 0x20)
	efiDesc := cat(
		uint32(7), uint32(0), uint64(0x100000), uint64(0xffff800000100000), uint64(0x200), uint64(0xf),
		uint32(3), uint32(0), uint64(0x200000), uint64(0), uint64(0x10), uint64(0x8000000000000000),
	)

	m := newBuilder()
	m.tag(TagCmdline, "console=ttyS0 quiet\x00")
	m.tag(TagBootLoaderName, "GRUB 2.06\x00")
	m.tag(TagModule, uint32(0x200000), uint32(0x280000), "initrd\x00")
	m.tag(TagModule, uint32(0x300000), uint32(0x300000), "\x00")
	m.tag(TagBasicMemInfo, uint32(639), uint32(523136))
	m.tag(TagBootDevice, uint32(0x80), uint32(1), uint32(0xffffffff))
	m.tag(TagMemoryMap, uint32(24), uint32(0),
		uint64(0), uint64(0x9fc00), uint32(MemAvailable), uint32(0),
		uint64(0x100000), uint64(0x7fe0000), uint32(MemAvailable), uint32(0))
	m.tag(TagVBE, uint16(0x118), uint16(0xc000), uint16(0x1234), uint16(0x56), ctl, mode)
	m.tag(TagFramebuffer, uint64(0xfd000000), uint32(4096), uint32(1024), uint32(768),
		uint8(32), uint8(FramebufferRGB), uint16(0), colorInfo)
	m.tag(TagELFSections, uint32(3), uint32(64), uint32(2), elf)
	m.tag(TagAPM, uint16(0x102), uint16(0xf000), uint32(0x1234), uint16(0xf001), uint16(0x40),
		uint16(3), uint16(0xffff), uint16(0xfff0), uint16(0x100))
	m.tag(TagEFI32SystemTable, uint32(0x7f000000))
	m.tag(TagEFI64SystemTable, uint64(0x7fabc000))
	m.tag(TagSMBIOS, uint8(3), uint8(4), make([]byte, 6), smbios)
	m.tag(TagACPIOldRSDP, rsdpOld)
	m.tag(TagACPINewRSDP, rsdpNew)
	m.tag(TagNetwork, dhcp)
	m.tag(TagEFIMemoryMap, uint32(40), uint32(1), efiDesc)
	m.tag(TagEFIBootServicesNotTerm)
	m.tag(TagEFI32ImageHandle, uint32(0x7e000000))
	m.tag(TagEFI64ImageHandle, uint64(0x7eabc000))
	m.tag(TagLoadBaseAddr, uint32(0x1000000))
	m.end()
	b := m.bytes()
	info := mustParse(t, b)

	check := func(name string, got, want any) {
		t.Helper()
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
			t.Errorf("%s: got %#v, want %#v", name, got, want)
		}
	}
	check("TotalSize", info.TotalSize, uint32(len(b)))
	check("Cmdline", info.Cmdline, "console=ttyS0 quiet")
	check("BootLoaderName", info.BootLoaderName, "GRUB 2.06")
	check("Modules", info.Modules, []Module{{0x200000, 0x280000, "initrd"}, {0x300000, 0x300000, ""}})
	check("BasicMemInfo", info.BasicMemInfo, &BasicMemInfo{639, 523136})
	check("BootDevice", info.BootDevice, &BootDevice{0x80, 1, 0xffffffff})
	check("MemoryMap", info.MemoryMap, &MemoryMap{EntrySize: 24, EntryVersion: 0, Entries: []MemoryMapEntry{
		{0, 0x9fc00, MemAvailable, 0}, {0x100000, 0x7fe0000, MemAvailable, 0}}})
	wantVBE := &VBEInfo{Mode: 0x118, InterfaceSeg: 0xc000, InterfaceOff: 0x1234, InterfaceLen: 0x56}
	copy(wantVBE.ControlInfo[:], ctl)
	copy(wantVBE.ModeInfo[:], mode)
	check("VBE", info.VBE, wantVBE)
	check("Framebuffer", info.Framebuffer, &Framebuffer{0xfd000000, 4096, 1024, 768, 32, FramebufferRGB, colorInfo})
	check("ELFSections", info.ELFSections, &ELFSections{3, 64, 2, elf})
	check("APM", info.APM, &APMTable{0x102, 0xf000, 0x1234, 0xf001, 0x40, 3, 0xffff, 0xfff0, 0x100})
	check("EFI32SystemTable", info.EFI32SystemTable, uint32(0x7f000000))
	check("EFI64SystemTable", info.EFI64SystemTable, uint64(0x7fabc000))
	check("SMBIOS", info.SMBIOS, &SMBIOS{3, 4, smbios})
	check("ACPIOldRSDP", info.ACPIOldRSDP, rsdpOld)
	check("ACPINewRSDP", info.ACPINewRSDP, rsdpNew)
	check("DHCPAck", info.DHCPAck, dhcp)
	check("EFIMemoryMap", info.EFIMemoryMap, &EFIMemoryMap{40, 1, efiDesc, []EFIMemoryDescriptor{
		{7, 0x100000, 0xffff800000100000, 0x200, 0xf},
		{3, 0x200000, 0, 0x10, 0x8000000000000000},
	}})
	check("EFIBootServicesNotTerminated", info.EFIBootServicesNotTerminated, true)
	check("EFI32ImageHandle", info.EFI32ImageHandle, uint32(0x7e000000))
	check("EFI64ImageHandle", info.EFI64ImageHandle, uint64(0x7eabc000))
	check("LoadBaseAddr", info.LoadBaseAddr, uint32(0x1000000))
	check("Unknown", info.Unknown, []TagRef(nil))
	check("Warnings", info.Warnings, []string(nil))
	if len(info.Tags) != 22 {
		t.Errorf("len(Tags) = %d, want 22", len(info.Tags))
	}
	for typ := uint32(1); typ <= maxKnownTag; typ++ {
		if !info.Has(typ) {
			t.Errorf("Has(%d) = false", typ)
		}
	}
	if info.Has(22) || info.Has(TagEnd) {
		t.Error("Has reports an absent tag")
	}

	// Info must not alias the input.
	for i := range b {
		b[i] = 0xaa
	}
	check("ACPINewRSDP after clobber", info.ACPINewRSDP, rsdpNew)
	check("DHCPAck after clobber", info.DHCPAck, dhcp)
}

// TestMemoryMapLargeEntries: entry bytes beyond the 24 decoded are ignored.
func TestMemoryMapLargeEntries(t *testing.T) {
	m := newBuilder()
	m.tag(TagMemoryMap, uint32(32), uint32(1),
		uint64(0x1000), uint64(0x2000), uint32(MemReserved), uint32(9), uint64(0xdeadbeef),
		uint64(0x3000), uint64(0x4000), uint32(MemBadRAM), uint32(0), uint64(0xcafef00d))
	m.end()
	info := mustParse(t, m.bytes())
	want := []MemoryMapEntry{{0x1000, 0x2000, MemReserved, 9}, {0x3000, 0x4000, MemBadRAM, 0}}
	if fmt.Sprint(info.MemoryMap.Entries) != fmt.Sprint(want) || info.MemoryMap.EntryVersion != 1 {
		t.Fatalf("got %+v", info.MemoryMap)
	}
}

// TestEFIMemoryMapSmallDescriptors: descriptor_size < 40 keeps raw only.
func TestEFIMemoryMapSmallDescriptors(t *testing.T) {
	m := newBuilder()
	m.tag(TagEFIMemoryMap, uint32(24), uint32(1), seq(24, 1))
	m.end()
	info := mustParse(t, m.bytes())
	if info.EFIMemoryMap.Descriptors != nil || !bytes.Equal(info.EFIMemoryMap.Raw, seq(24, 1)) {
		t.Fatalf("got %+v", info.EFIMemoryMap)
	}
	// Larger descriptors (UEFI firmware commonly uses 48) decode too.
	m = newBuilder()
	m.tag(TagEFIMemoryMap, uint32(48), uint32(1),
		uint32(4), uint32(0), uint64(1), uint64(2), uint64(3), uint64(4), uint64(0))
	m.end()
	info = mustParse(t, m.bytes())
	if got := info.EFIMemoryMap.Descriptors; len(got) != 1 || got[0] != (EFIMemoryDescriptor{4, 1, 2, 3, 4}) {
		t.Fatalf("got %+v", got)
	}
}

// TestGRUB is an MBI laid out as GRUB 2 typically produces it.
func TestGRUB(t *testing.T) {
	rsdp := cat("RSD PTR ", uint8(0x4e), "BOCHS ", uint8(2), uint32(0x7fe14a4),
		uint32(36), uint64(0x7fe1570), uint8(0x12), []byte{0, 0, 0})
	m := newBuilder()
	m.tag(TagLoadBaseAddr, uint32(0x200000))
	m.tag(TagCmdline, "/boot/tamavisor console=com1\x00")
	m.tag(TagBootLoaderName, "GRUB 2.06\x00")
	m.tag(TagModule, uint32(0x1000000), uint32(0x1234567), "/boot/guest.elf guest0\x00")
	m.tag(TagModule, uint32(0x1235000), uint32(0x1240000), "/boot/initrd\x00")
	m.tag(TagBasicMemInfo, uint32(639), uint32(2095104))
	m.tag(TagBootDevice, uint32(0x80), uint32(0), uint32(0xffffffff))
	m.tag(TagMemoryMap, uint32(24), uint32(0),
		uint64(0x0), uint64(0x9fc00), uint32(1), uint32(0),
		uint64(0x9fc00), uint64(0x400), uint32(2), uint32(0),
		uint64(0xf0000), uint64(0x10000), uint32(2), uint32(0),
		uint64(0x100000), uint64(0x7fee0000), uint32(1), uint32(0))
	m.tag(TagACPINewRSDP, rsdp)
	m.end()
	b := m.bytes()
	// GRUB's MBI usually sits in a larger buffer; trailing bytes beyond
	// total_size are ignored.
	b = append(b, 0xde, 0xad, 0xbe, 0xef)
	info := mustParse(t, b)

	if info.Cmdline != "/boot/tamavisor console=com1" || info.BootLoaderName != "GRUB 2.06" {
		t.Errorf("strings: %q %q", info.Cmdline, info.BootLoaderName)
	}
	if info.LoadBaseAddr != 0x200000 || !info.Has(TagLoadBaseAddr) {
		t.Errorf("LoadBaseAddr = %#x", info.LoadBaseAddr)
	}
	if len(info.Modules) != 2 || info.Modules[0].Cmdline != "/boot/guest.elf guest0" ||
		info.Modules[1].Start != 0x1235000 {
		t.Errorf("Modules = %+v", info.Modules)
	}
	if *info.BasicMemInfo != (BasicMemInfo{639, 2095104}) {
		t.Errorf("BasicMemInfo = %+v", info.BasicMemInfo)
	}
	if e := info.MemoryMap.Entries; len(e) != 4 || e[3] != (MemoryMapEntry{0x100000, 0x7fee0000, 1, 0}) ||
		e[1].Type != MemReserved {
		t.Errorf("MemoryMap = %+v", info.MemoryMap)
	}
	if !bytes.Equal(info.ACPINewRSDP, rsdp) || info.ACPIOldRSDP != nil {
		t.Errorf("RSDP = %x / %x", info.ACPINewRSDP, info.ACPIOldRSDP)
	}
	if info.TotalSize != uint32(len(b)-4) || len(info.Warnings) != 0 || len(info.Unknown) != 0 {
		t.Errorf("info = %+v", info)
	}
}

func TestUnknownSkipped(t *testing.T) {
	m := newBuilder()
	off := m.tag(0x1234, seq(13, 0))
	m.tag(TagCmdline, "x\x00")
	off2 := m.tag(22)
	m.end()
	info := mustParse(t, m.bytes())
	want := []TagRef{{0x1234, off, 21}, {22, off2, 8}}
	if fmt.Sprint(info.Unknown) != fmt.Sprint(want) {
		t.Fatalf("Unknown = %+v, want %+v", info.Unknown, want)
	}
	if info.Cmdline != "x" {
		t.Fatalf("Cmdline = %q", info.Cmdline)
	}
}

func TestDuplicates(t *testing.T) {
	m := newBuilder()
	m.tag(TagCmdline, "first\x00")
	off := m.tag(TagCmdline, "second\x00")
	m.tag(TagBasicMemInfo, uint32(1), uint32(2))
	m.tag(TagBasicMemInfo, uint32(3), uint32(4))
	m.tag(TagModule, uint32(1), uint32(2), "a\x00")
	m.tag(TagModule, uint32(3), uint32(4), "b\x00")
	m.end()
	info := mustParse(t, m.bytes())
	if info.Cmdline != "first" || *info.BasicMemInfo != (BasicMemInfo{1, 2}) || len(info.Modules) != 2 {
		t.Fatalf("got %+v", info)
	}
	if len(info.Warnings) != 2 || !strings.Contains(info.Warnings[0], fmt.Sprintf("offset %#x", off)) {
		t.Fatalf("Warnings = %q", info.Warnings)
	}
}

func TestTrailingAfterEnd(t *testing.T) {
	// Zero padding after the end tag is allowed, including a total_size
	// that is not a multiple of 8.
	m := newBuilder()
	m.tag(TagCmdline, "x\x00")
	m.end()
	m.b = append(m.b, 0, 0, 0, 0, 0)
	if _, err := Parse(m.bytes()); err != nil {
		t.Fatalf("zero padding: %v", err)
	}
	m.b[len(m.b)-2] = 1
	_, err := Parse(m.bytes())
	wantErr(t, err, len(m.b)-2, "non-zero byte after end tag")
}

func TestErrorString(t *testing.T) {
	e := &Error{Offset: 0x48, Tag: 6, Msg: "size 4 < 8"}
	if got, want := e.Error(), "multiboot2: tag 6 at offset 0x48: size 4 < 8"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	e = &Error{Offset: 0, Msg: "total_size 8 < 16"}
	if got, want := e.Error(), "multiboot2: header at offset 0x0: total_size 8 < 16"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func wantErr(t *testing.T, err error, off int, substr string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not *Error", err, err)
	}
	if e.Offset != off || !strings.Contains(e.Error(), substr) {
		t.Fatalf("error %q (offset %#x), want offset %#x containing %q", e, e.Offset, off, substr)
	}
	if !strings.Contains(e.Error(), fmt.Sprintf("offset %#x", off)) {
		t.Fatalf("error %q does not name offset %#x", e, off)
	}
}

func TestErrors(t *testing.T) {
	type tc struct {
		name   string
		b      []byte
		off    int
		substr string
	}
	var cases []tc
	add := func(name string, b []byte, off int, substr string) {
		cases = append(cases, tc{name, b, off, substr})
	}

	add("empty", nil, 0, "shorter than the 8-byte header")
	add("short header", []byte{16, 0, 0, 0}, 0, "shorter than")
	{
		m := newBuilder()
		m.end()
		add("total_size too small", m.bytesTotal(8), 0, "total_size 8 < 16")
	}
	{
		m := newBuilder()
		m.tag(TagCmdline, "hello\x00")
		m.end()
		b := m.bytes()
		add("truncated buffer", b[:len(b)-8], 0, "> buffer length")
	}
	{
		m := newBuilder()
		m.tag(TagCmdline, "hello\x00")
		m.end()
		add("total_size cuts end tag", m.bytesTotal(24), 0x18, "missing end tag")
	}
	{
		m := newBuilder()
		m.tag(TagCmdline, "x\x00")
		off := m.raw(TagMemoryMap, 4, nil, false)
		m.end()
		add("tag size < 8", m.bytes(), off, "tag 6 at offset 0x18: size 4 < 8")
	}
	{
		m := newBuilder()
		off := m.raw(TagCmdline, 0x100, []byte("abc\x00\x00\x00\x00\x00"), false)
		m.end()
		add("tag past total_size", m.bytes(), off, "runs past total_size")
	}
	{
		m := newBuilder()
		off := m.raw(TagCmdline, 0xfffffff8, nil, false)
		m.end()
		add("huge tag size", m.bytes(), off, "runs past total_size")
	}
	{
		// Tag of size 13 followed immediately (unpadded) by the end
		// tag: the parser looks for the next tag at 0x18, whose header
		// would run past total_size.
		m := newBuilder()
		m.raw(TagCmdline, 13, []byte("abcd\x00"), false)
		m.raw(TagEnd, 8, nil, false)
		add("unaligned next tag", m.bytes(), 0x18, "missing end tag")
	}
	{
		// Same, with room after it: the parser reads a bogus header at
		// the aligned offset.
		m := newBuilder()
		m.raw(TagCmdline, 13, []byte("abcd\x00"), false)
		m.raw(TagEnd, 8, nil, false)
		m.b = append(m.b, make([]byte, 3)...)
		add("misaligned next tag", m.bytes(), 0x18, "size 0 < 8")
	}
	{
		m := newBuilder()
		m.tag(TagCmdline, "x\x00")
		add("missing end tag", m.bytes(), 0x18, "missing end tag")
	}
	{
		m := newBuilder()
		m.tag(TagEnd, uint64(0))
		add("end tag size", m.bytes(), 8, "end tag size 16 != 8")
	}
	{
		m := newBuilder()
		m.end()
		m.tag(TagCmdline, "x\x00")
		add("tag after end", m.bytes(), 0x10, "non-zero byte after end tag")
	}
	short := []struct {
		typ  uint32
		body []byte
	}{
		{TagCmdline, nil},
		{TagBootLoaderName, nil},
		{TagModule, cat(uint32(1), uint32(2))},
		{TagBasicMemInfo, cat(uint32(1))},
		{TagBootDevice, cat(uint32(1), uint32(2))},
		{TagMemoryMap, cat(uint32(24))},
		{TagVBE, seq(775, 0)},
		{TagFramebuffer, cat(uint64(1), uint32(1), uint32(1), uint32(1), uint8(32), uint8(1))},
		{TagELFSections, cat(uint32(1), uint32(64))},
		{TagAPM, seq(19, 0)},
		{TagEFI32SystemTable, cat(uint16(1))},
		{TagEFI64SystemTable, cat(uint32(1))},
		{TagSMBIOS, cat(uint8(3), uint8(4))},
		{TagEFIMemoryMap, cat(uint32(40))},
		{TagEFI32ImageHandle, nil},
		{TagEFI64ImageHandle, cat(uint32(1))},
		{TagLoadBaseAddr, cat(uint16(1))},
	}
	for _, s := range short {
		m := newBuilder()
		m.tag(TagBootDevice, uint32(1), uint32(2), uint32(3))
		off := m.tag(s.typ, s.body)
		m.end()
		add(fmt.Sprintf("short tag %d", s.typ), m.bytes(), off,
			fmt.Sprintf("tag %d at offset %#x: size %d < %d", s.typ, off, 8+len(s.body), minSize[s.typ]))
	}
	for _, typ := range []uint32{TagCmdline, TagBootLoaderName} {
		m := newBuilder()
		off := m.tag(typ, "no terminator")
		m.end()
		add(fmt.Sprintf("unterminated string %d", typ), m.bytes(), off, "not NUL-terminated")
	}
	{
		// The padding after the tag is zero but lies outside the tag.
		m := newBuilder()
		off := m.tag(TagModule, uint32(1), uint32(2), "mod")
		m.end()
		add("unterminated module string", m.bytes(), off, "not NUL-terminated")
	}
	{
		m := newBuilder()
		off := m.tag(TagModule, uint32(0x2000), uint32(0x1fff), "m\x00")
		m.end()
		add("mod_start > mod_end", m.bytes(), off, "mod_start 0x2000 > mod_end 0x1fff")
	}
	for _, es := range []uint32{0, 16, 28, 33} {
		m := newBuilder()
		off := m.tag(TagMemoryMap, es, uint32(0), make([]byte, 48))
		m.end()
		add(fmt.Sprintf("mmap entry_size %d", es), m.bytes(), off, fmt.Sprintf("entry_size %d not", es))
	}
	{
		m := newBuilder()
		off := m.tag(TagMemoryMap, uint32(24), uint32(0), make([]byte, 30))
		m.end()
		add("mmap partial entry", m.bytes(), off, "not a multiple of entry_size")
	}
	{
		m := newBuilder()
		off := m.tag(TagEFIMemoryMap, uint32(48), uint32(1), make([]byte, 40))
		m.end()
		add("efi mmap partial descriptor", m.bytes(), off, "not a multiple of descriptor_size")
	}
	{
		// Errors in a duplicate tag are still errors.
		m := newBuilder()
		m.tag(TagLoadBaseAddr, uint32(1))
		off := m.tag(TagLoadBaseAddr)
		m.end()
		add("short duplicate", m.bytes(), off, "size 8 < 12")
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := Parse(c.b)
			if info != nil {
				t.Errorf("info = %+v, want nil", info)
			}
			wantErr(t, err, c.off, c.substr)
		})
	}
}

// fuzzSeeds returns valid and near-valid MBIs to start fuzzing from.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	m := newBuilder()
	m.end()
	seeds = append(seeds, m.bytes())

	m = newBuilder()
	m.tag(TagCmdline, "console=com1\x00")
	m.tag(TagBootLoaderName, "GRUB 2.06\x00")
	m.tag(TagModule, uint32(0x100000), uint32(0x200000), "mod\x00")
	m.tag(TagBasicMemInfo, uint32(639), uint32(1<<20))
	m.tag(TagMemoryMap, uint32(24), uint32(0),
		uint64(0), uint64(0x9fc00), uint32(1), uint32(0),
		uint64(0x100000), uint64(0x1000000), uint32(1), uint32(0))
	m.tag(TagACPINewRSDP, seq(36, 0))
	m.tag(TagLoadBaseAddr, uint32(0x200000))
	m.end()
	seeds = append(seeds, m.bytes())

	m = newBuilder()
	m.tag(TagFramebuffer, uint64(0xfd000000), uint32(4096), uint32(1024), uint32(768),
		uint8(32), uint8(1), uint16(0), seq(6, 8))
	m.tag(TagELFSections, uint32(1), uint32(64), uint32(0), seq(64, 0))
	m.tag(TagSMBIOS, uint8(3), uint8(0), make([]byte, 6), seq(8, 0))
	m.tag(TagEFIMemoryMap, uint32(40), uint32(1), seq(40, 0))
	m.tag(TagEFI64SystemTable, uint64(0x7f000000))
	m.tag(TagEFIBootServicesNotTerm)
	m.tag(TagEFI64ImageHandle, uint64(0x7e000000))
	m.tag(999, seq(5, 0))
	m.end()
	seeds = append(seeds, m.bytes())
	return seeds
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Add([]byte{})
	f.Add([]byte{16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		info, err := Parse(b)
		if !bytes.Equal(orig, b) {
			t.Fatal("Parse modified its input")
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			if info != nil {
				t.Fatal("non-nil Info with error")
			}
			// For a missing end tag the offset is where it was
			// expected: up to total_size rounded up to 8.
			if e.Offset < 0 || e.Offset > (len(b)+7)&^7 {
				t.Fatalf("error offset %#x out of range for %d bytes", e.Offset, len(b))
			}
			return
		}
		total := int(info.TotalSize)
		if total < 16 || total > len(b) {
			t.Fatalf("TotalSize %d, len %d", total, len(b))
		}
		for _, r := range info.Tags {
			if r.Offset%8 != 0 || r.Offset < 8 || r.Size < 8 || r.Offset+int(r.Size) > total || r.Type == TagEnd {
				t.Fatalf("bad tag ref %+v (total %d)", r, total)
			}
		}
		for _, mod := range info.Modules {
			if mod.Start > mod.End {
				t.Fatalf("module %+v has start > end", mod)
			}
		}
		if mm := info.MemoryMap; mm != nil {
			if mm.EntrySize < 24 || mm.EntrySize%8 != 0 {
				t.Fatalf("mmap entry_size %d", mm.EntrySize)
			}
			if uint64(len(mm.Entries))*uint64(mm.EntrySize) > uint64(total) {
				t.Fatalf("%d mmap entries of %d bytes in %d", len(mm.Entries), mm.EntrySize, total)
			}
		}
		if em := info.EFIMemoryMap; em != nil {
			if em.DescriptorSize >= 40 && uint64(len(em.Descriptors))*uint64(em.DescriptorSize) != uint64(len(em.Raw)) {
				t.Fatalf("EFI map: %d descriptors of %d bytes, raw %d", len(em.Descriptors), em.DescriptorSize, len(em.Raw))
			}
			if em.DescriptorSize < 40 && em.Descriptors != nil {
				t.Fatal("EFI descriptors decoded with small descriptor_size")
			}
		}
		for _, s := range []string{info.Cmdline, info.BootLoaderName} {
			if strings.IndexByte(s, 0) >= 0 || len(s) > total {
				t.Fatalf("bad string %q", s)
			}
		}
		for _, r := range info.Unknown {
			if r.Type <= maxKnownTag {
				t.Fatalf("known tag %d listed as unknown", r.Type)
			}
		}
		// Parsing must be deterministic.
		info2, err := Parse(b)
		if err != nil || !reflect.DeepEqual(info, info2) {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}

// TestSeedsValid checks that the fuzz seeds are valid MBIs.
func TestSeedsValid(t *testing.T) {
	for i, s := range fuzzSeeds() {
		if _, err := Parse(s); err != nil {
			t.Errorf("seed %d: %v", i, err)
		}
	}
}
