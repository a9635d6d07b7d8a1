// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

// eptModel is the reference for FuzzEPT: one entry per mapped 4 KiB page.
type eptModel map[uint64]eptModelPage

type eptModelPage struct {
	pa uint64
	a  Attr
}

// The fuzzed operations address two 16 MiB windows of guest-physical
// space, one at 0 and one ending at 2^48, so that mappings collide, 2 MiB
// pages form and split, and ranges run past the top of the EPT.
const (
	fuzzWindow     = 16 << 20
	fuzzHighWindow = 1<<EPTMaxGPABits - fuzzWindow
	fuzzPABase     = 0x1_0000_0000
	fuzzOpBytes    = 6
	fuzzMaxOps     = 32
)

// fuzzOp decodes one 6-byte operation:
//
//	b[0] bit 0   Unmap (else Map)
//	     bit 1   the high window
//	     bit 2   align the guest-physical address to 2 MiB
//	     bit 3   align the physical address to 2 MiB
//	     bit 4-6 Write, Exec, Uncached
//	     bit 7   misalign the guest-physical address by 2 KiB
//	b[1:3]       guest-physical page in the window
//	b[3:5]       physical page; its top bit puts it just below 2^52
//	b[5]         size: 0 is zero; bit 7 set: (b&3+1) * 2 MiB; else b pages
type fuzzOp struct {
	unmap bool
	gpa   uint64
	pa    uint64
	size  uint64
	a     Attr
}

func decodeFuzzOp(b []byte) fuzzOp {
	var op fuzzOp
	op.unmap = b[0]&1 != 0
	page := uint64(b[1]) | uint64(b[2])<<8
	op.gpa = page % (fuzzWindow / pageSize) * pageSize
	if b[0]&4 != 0 {
		op.gpa &^= miB2 - 1
	}
	if b[0]&2 != 0 {
		op.gpa += fuzzHighWindow
	}
	if b[0]&0x80 != 0 {
		op.gpa += 0x800
	}
	ppage := uint64(b[3]) | uint64(b[4])<<8
	op.pa = fuzzPABase + ppage%0x8000*pageSize
	if ppage&0x8000 != 0 {
		op.pa = 1<<eptMaxPABits - fuzzWindow + ppage%(fuzzWindow/pageSize)*pageSize
	}
	if b[0]&8 != 0 {
		op.pa &^= miB2 - 1
	}
	switch s := b[5]; {
	case s == 0:
	case s&0x80 != 0:
		op.size = uint64(s&3+1) * miB2
	default:
		op.size = uint64(s) * pageSize
	}
	op.a = Attr{Write: b[0]&0x10 != 0, Exec: b[0]&0x20 != 0, Uncached: b[0]&0x40 != 0}
	return op
}

// expect returns the argument error Map (or Unmap) must return for op,
// checked in the order the builder checks, or nil if the arguments are
// good.
func (m eptModel) expect(op fuzzOp) error {
	switch {
	case op.size == 0:
		return ErrZeroSize
	case op.gpa%pageSize != 0:
		return ErrUnaligned
	case op.gpa+op.size > 1<<EPTMaxGPABits:
		return ErrRange
	case op.unmap:
		return nil
	case op.pa+op.size > 1<<eptMaxPABits:
		return ErrRange
	}
	for off := uint64(0); off < op.size; off += pageSize {
		if _, ok := m[op.gpa+off]; ok {
			return ErrAlreadyMapped
		}
	}
	return nil
}

func (m eptModel) check(t *testing.T, e *EPT, mem *hv.SimMemory) {
	t.Helper()
	for _, base := range []uint64{0, fuzzHighWindow} {
		for off := uint64(0); off < fuzzWindow; off += pageSize {
			gpa := base + off
			pa, a, ok := e.Translate(hv.IPA(gpa))
			want, mapped := m[gpa]
			if ok != mapped || (ok && (uint64(pa) != want.pa || a != want.a)) {
				t.Fatalf("gpa %#x: EPT says %v %v %v, model %#x %v %v", gpa, pa, a, ok, want.pa, want.a, mapped)
			}
		}
	}
	var total uint64
	e.Visit(func(gpa hv.IPA, pa hv.PA, size uint64, a Attr) bool {
		total += size
		return true
	})
	if total != uint64(len(m))*pageSize {
		t.Fatalf("EPT maps %#x bytes, model %#x", total, uint64(len(m))*pageSize)
	}
	if mem.Stray != 0 {
		t.Fatalf("%d stray accesses outside table memory", mem.Stray)
	}
}

// FuzzEPT runs a random sequence of Map and Unmap against a model of the
// guest-physical address space (Intel SDM Vol. 3C, 29.3.2 "EPT
// Translation Mechanism"): after every operation each page of the windows
// translates as the model says, refused operations change nothing, and
// running out of table pages (the first byte picks how many there are)
// leaves every translation as it was.
func FuzzEPT(f *testing.F) {
	f.Add([]byte{8,
		0x3c, 0x00, 0x00, 0x00, 0x00, 0x81, // map 2 MiB large page rwx
		0x01, 0x10, 0x00, 0x00, 0x00, 0x01, // unmap one page inside it
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		pages := 2 + int(data[0]%40)
		e, mem, _ := newTestEPT(t, pages)
		model := eptModel{}
		data = data[1:]
		for n := 0; len(data) >= fuzzOpBytes && n < fuzzMaxOps; n++ {
			op := decodeFuzzOp(data[:fuzzOpBytes])
			data = data[fuzzOpBytes:]
			want := model.expect(op)
			var err error
			if op.unmap {
				err = e.Unmap(hv.IPA(op.gpa), op.size)
			} else {
				err = e.Map(hv.IPA(op.gpa), hv.PA(op.pa), op.size, op.a)
			}
			switch {
			case want != nil:
				if !errors.Is(err, want) {
					t.Fatalf("op %d %+v: got %v, want %v", n, op, err, want)
				}
			case errors.Is(err, hv.ErrNoMemory):
				// Nothing changed: the model stays as it is.
			case err != nil:
				t.Fatalf("op %d %+v: %v", n, op, err)
			case op.unmap:
				for off := uint64(0); off < op.size; off += pageSize {
					delete(model, op.gpa+off)
				}
			default:
				for off := uint64(0); off < op.size; off += pageSize {
					model[op.gpa+off] = eptModelPage{op.pa + off, op.a}
				}
			}
			model.check(t, e, mem)
		}
	})
}

// FuzzGuestControlWrites_27_3_1 plays a guest that writes control
// registers and control MSRs at random, through the emulation of the
// writes that exit (MOV to CR0/CR4, LMSW, CLTS) and through WRMSR of
// EFER and PAT, from the PVH state or 64-bit mode. Whatever it writes,
// the guest-state area must still pass the VM-entry checks of 27.3.1
// (entrycheck_test.go): a guest cannot make the backend build a state
// the processor refuses. Each operation is 9 bytes: the operation, then
// a little-endian value.
func FuzzGuestControlWrites_27_3_1(f *testing.F) {
	op := func(o byte, v uint64) []byte { return binary.LittleEndian.AppendUint64([]byte{o}, v) }
	f.Add(false, op(0, CR0_PE|CR0_NE|CR0_ET))
	f.Add(false, slices.Concat(op(4, EFER_LME), op(1, CR4_PAE), op(0, CR0_PG|CR0_PE)))
	// Compatibility mode with PCIDs, then paging off: #GP.
	f.Add(false, slices.Concat(op(4, EFER_LME), op(1, CR4_PAE), op(0, CR0_PG|CR0_PE), op(1, CR4_PAE|CR4_PCIDE), op(0, CR0_PE)))
	f.Add(true, slices.Concat(op(0, CR0_PE|CR0_PG|CR0_CD|CR0_NW), op(2, 0xe), op(3, 0), op(5, 0x0606_0606_0606_0606)))
	f.Fuzz(func(t *testing.T, long bool, ops []byte) {
		if len(ops) > 9*32 {
			ops = ops[:9*32]
		}
		r := newRig(t)
		v, s := r.v, r.vmcs()
		if long {
			// The state a 64-bit guest reaches on its own (no exit:
			// PG, PAE and LME are its bits).
			s.Write(GUEST_CR0, CR0_PE|CR0_NE|CR0_ET|CR0_PG)
			s.Write(CR0_READ_SHADOW, CR0_PE|CR0_ET|CR0_PG)
			s.Write(GUEST_CR4, CR4_VMXE|CR4_PAE)
			s.Write(CR4_READ_SHADOW, CR4_PAE)
			s.Write(GUEST_IA32_EFER, EFER_LME|EFER_LMA)
			s.Write(GUEST_CS_AR_BYTES, uint64(NewAccessRights(SEG_TYPE_CODE_RX_ACCESSED, true, 0, true, false, true)))
			v.entry |= ENTRY_IA32E_MODE_GUEST
			s.Write(VM_ENTRY_CONTROLS, uint64(v.entry))
		}
		for ; len(ops) >= 9; ops = ops[9:] {
			val := binary.LittleEndian.Uint64(ops[1:])
			v.regs.RAX = val
			switch ops[0] % 6 {
			case 0:
				v.emulateCR(0|CR_ACCESS_MOV_TO<<CR_QUAL_TYPE_SHIFT, 3)
			case 1:
				v.emulateCR(4|CR_ACCESS_MOV_TO<<CR_QUAL_TYPE_SHIFT, 3)
			case 2:
				v.emulateCR(CR_ACCESS_LMSW<<CR_QUAL_TYPE_SHIFT|(val&0xffff)<<CR_QUAL_LMSW_SHIFT, 3)
			case 3:
				v.emulateCR(CR_ACCESS_CLTS<<CR_QUAL_TYPE_SHIFT, 2)
			case 4:
				_, _ = v.SetGuestMSR(IA32_EFER, val)
			case 5:
				_, _ = v.SetGuestMSR(IA32_PAT, val)
			}
			// An injected #GP must itself be enterable.
			s.Write(VM_ENTRY_INTR_INFO_FIELD, uint64(v.event))
			if errs := entryErrors(s, r.ops.Caps); len(errs) != 0 {
				t.Fatalf("after op %d value %#x: %s", ops[0]%6, val, strings.Join(errs, "; "))
			}
			v.event = 0
		}
	})
}
