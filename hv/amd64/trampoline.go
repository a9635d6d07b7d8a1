// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The application-processor start-up trampoline.
//
// A startup IPI starts an AP in real mode at CS:IP = (vector<<8):0, so
// its first instructions must sit in a 4 KiB page below 1 MiB (Intel SDM
// Vol. 3A 9.4.4 "MP Initialization Example", 11.6.1 "Interrupt Command
// Register": the SIPI vector is the page number). The page holds, at
// fixed offsets:
//
//	0x00  16-bit code: load the page's own GDT, set CR0.PE, far jump to
//	0x20  32-bit code: flat data segments, CR4.PAE, CR3 = the boot
//	      CPU's page tables, EFER as the boot CPU has it (LME, NXE, and
//	      SVME when SVM is on), CR0.PG|PE, far jump to
//	0x60  64-bit code: RAX = entry, RDI = arg, jump to RAX;
//	0x80  GDT: null, 32-bit flat code, flat data, 64-bit code;
//	0xa0  its GDTR (32-bit base);
//	0xc0  data: CR3, EFER, entry, arg (8 bytes each).
//
// The code refers to the page by its physical address (the real-mode
// code through CS = DS = page>>4), so it runs wherever the board puts
// it, as long as the boot CPU's page tables map that page to itself
// (cpuinit's final map keeps low memory, bar page 0, identity-mapped).
// entry is a 64-bit address valid in those tables; it runs with the
// trampoline's GDT and no IDT, interrupts masked, RDI = arg.
const (
	trampCode32 = 0x20
	trampCode64 = 0x60
	trampGDT    = 0x80
	trampGDTR   = 0xa0
	trampCR3    = 0xc0
	trampEFER   = 0xc8
	trampEntry  = 0xd0
	trampArg    = 0xd8
	trampSize   = 0xe0

	// Trampoline GDT selectors.
	trampSelCode32 = 0x08
	trampSelData   = 0x10
	trampSelCode64 = 0x18

	// EFER.LMA is set by the CPU, never written (SDM Vol. 3A 2.2.1).
	eferLMA = 1 << 10
)

// trampText is the code, with zeros where BuildTrampoline patches
// addresses (the comments give the offsets).
var trampText = []struct {
	off  int
	code []byte
}{
	{0x00, []byte{
		0xfa,       // cli
		0xfc,       // cld
		0x8c, 0xc8, // mov ax, cs
		0x8e, 0xd8, // mov ds, ax
		0x66, 0x0f, 0x01, 0x16, trampGDTR, 0x00, // lgdt dword [trampGDTR]
		0x0f, 0x20, 0xc0, // mov eax, cr0
		0x66, 0x83, 0xc8, 0x01, // or eax, 1 (PE)
		0x0f, 0x22, 0xc0, // mov cr0, eax
		0x66, 0xea, 0, 0, 0, 0, trampSelCode32, 0x00, // jmp dword 0x08:page+0x20 (imm32 at 0x18)
	}},
	{trampCode32, []byte{
		0xb8, trampSelData, 0, 0, 0, // mov eax, 0x10
		0x8e, 0xd8, // mov ds, ax
		0x8e, 0xc0, // mov es, ax
		0x8e, 0xd0, // mov ss, ax
		0x0f, 0x20, 0xe0, // mov eax, cr4
		0x83, 0xc8, 0x20, // or eax, 0x20 (PAE)
		0x0f, 0x22, 0xe0, // mov cr4, eax
		0xa1, 0, 0, 0, 0, // mov eax, [page+trampCR3] (disp32 at 0x35)
		0x0f, 0x22, 0xd8, // mov cr3, eax
		0xb9, 0x80, 0x00, 0x00, 0xc0, // mov ecx, 0xc0000080 (EFER)
		0xa1, 0, 0, 0, 0, // mov eax, [page+trampEFER] (disp32 at 0x42)
		0x8b, 0x15, 0, 0, 0, 0, // mov edx, [page+trampEFER+4] (disp32 at 0x48)
		0x0f, 0x30, // wrmsr
		0x0f, 0x20, 0xc0, // mov eax, cr0
		0x0d, 0x01, 0x00, 0x00, 0x80, // or eax, 0x80000001 (PG|PE)
		0x0f, 0x22, 0xc0, // mov cr0, eax
		0xea, 0, 0, 0, 0, trampSelCode64, 0x00, // jmp 0x18:page+0x60 (imm32 at 0x5a)
	}},
	{trampCode64, []byte{
		0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0, // mov rax, [page+trampEntry] (disp32 at 0x64)
		0x48, 0x8b, 0x3c, 0x25, 0, 0, 0, 0, // mov rdi, [page+trampArg] (disp32 at 0x6c)
		0xff, 0xe0, // jmp rax
	}},
}

// trampRelocs are the offsets of the 32-bit fields that hold
// page+target.
var trampRelocs = []struct{ at, target int }{
	{0x18, trampCode32},
	{0x35, trampCR3},
	{0x42, trampEFER},
	{0x48, trampEFER + 4},
	{0x5a, trampCode64},
	{0x64, trampEntry},
	{0x6c, trampArg},
}

// trampGDTEntries: SDM Vol. 3A 3.4.5 segment descriptors, flat 4 GiB.
var trampGDTEntries = [4]uint64{
	0,
	0x00cf_9a00_0000_ffff, // 32-bit code: G, D, P, S, execute/read
	0x00cf_9200_0000_ffff, // data: G, B, P, S, read/write
	0x00af_9a00_0000_ffff, // 64-bit code: G, L, P, S, execute/read
}

// TrampolineLimit is the end of the memory a SIPI can start a CPU in.
const TrampolineLimit = 1 << 20

// BuildTrampoline returns the trampoline for physical page page: APs
// started with SIPI vector page>>12 switch to long mode on the page
// tables at cr3 with EFER efer and jump to entry with RDI = arg.
func BuildTrampoline(page uint64, cr3, efer, entry, arg uint64) ([]byte, error) {
	switch {
	case page == 0 || page%4096 != 0 || page+4096 > TrampolineLimit:
		return nil, fmt.Errorf("amd64: trampoline page %#x is not a page in 4 KiB..1 MiB", page)
	case cr3 >= 1<<32:
		return nil, errors.New("amd64: trampoline: page tables above 4 GiB")
	}
	b := make([]byte, trampSize)
	for i := range b {
		b[i] = 0xf4 // hlt between the pieces
	}
	for _, t := range trampText {
		copy(b[t.off:], t.code)
	}
	for _, r := range trampRelocs {
		binary.LittleEndian.PutUint32(b[r.at:], uint32(page)+uint32(r.target))
	}
	for i, d := range trampGDTEntries {
		binary.LittleEndian.PutUint64(b[trampGDT+8*i:], d)
	}
	binary.LittleEndian.PutUint16(b[trampGDTR:], uint16(len(trampGDTEntries)*8-1))
	binary.LittleEndian.PutUint32(b[trampGDTR+2:], uint32(page)+trampGDT)
	binary.LittleEndian.PutUint64(b[trampCR3:], cr3)
	binary.LittleEndian.PutUint64(b[trampEFER:], efer&^eferLMA)
	binary.LittleEndian.PutUint64(b[trampEntry:], entry)
	binary.LittleEndian.PutUint64(b[trampArg:], arg)
	return b, nil
}

// SetTrampolineArg rewrites the arg word of a built trampoline (one AP
// is started at a time, each with its own mailbox).
func SetTrampolineArg(b []byte, arg uint64) {
	binary.LittleEndian.PutUint64(b[trampArg:], arg)
}

// ChooseTrampolinePage returns the lowest 4 KiB page in [4 KiB, 1 MiB)
// that lies wholly in one of the usable RAM ranges and in none of the
// reserved ones (boot modules, the boot information, firmware data the
// hypervisor still reads).
func ChooseTrampolinePage(ram []Range, reserved []Range) (uint64, error) {
	for p := uint64(4096); p+4096 <= TrampolineLimit; p += 4096 {
		in := false
		for _, r := range ram {
			if p >= r.Base && p+4096 <= r.Base+r.Size && r.Base+r.Size > r.Base {
				in = true
				break
			}
		}
		if !in {
			continue
		}
		clash := false
		for _, r := range reserved {
			if p < r.Base+r.Size && r.Base < p+4096 {
				clash = true
				break
			}
		}
		if !clash {
			return p, nil
		}
	}
	return 0, errors.New("amd64: no free RAM page below 1 MiB for the AP trampoline")
}

// Range is a physical address range.
type Range struct{ Base, Size uint64 }
