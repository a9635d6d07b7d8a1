// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"encoding/binary"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

// Capability MSRs of the test processor, approximating Bochs 2.7's
// corei7_skylake_x model (VMX level 2 with EPT, VPID and unrestricted
// guest). They are not a dump from Bochs: the fields tamavisor depends
// on have plausible values, the rest are typical of a Skylake server.
const (
	// Revision 0x1d, 4 KiB regions, write-back, INS/OUTS information,
	// TRUE controls.
	testBasic = 0x00d8_1000_0000_001d
	// Pin-based: default1 bits 1, 2, 4; bits 0-7 allowed.
	testPin = 0x0000_00ff_0000_0016
	// Primary, TRUE: default1 without CR3-load/store exiting.
	testTrueProc = 0xfff9_fffe_0400_6172
	// Primary, plain: CR3-load/store exiting forced.
	testProc = 0xfff9_fffe_0401_e172
	// Secondary: bits 0-14, 16-20, 22 allowed.
	testProc2 = 0x005f_7fff_0000_0000
	// VM-exit, TRUE: default1 without "save debug controls"; bits 0-24.
	testTrueExit = 0x01ff_ffff_0003_6dfb
	// VM-entry, TRUE: default1 without "load debug controls"; bits 0-17.
	testTrueEntry = 0x0003_ffff_0000_11fb
	testMisc      = 0x0000_0000_6004_01e5
	testCR0Fixed0 = 0x8000_0021
	testCR0Fixed1 = 0xffff_ffff
	testCR4Fixed0 = 0x2000
	testCR4Fixed1 = 0x0037_27ff
	// EPT: execute-only, 4-level, UC, WB, 2M, 1G, INVEPT single/all,
	// A/D; INVVPID all types.
	testEPTVPID = 0x0000_0f01_0633_4141
)

func testCaps() Caps {
	return Caps{Basic: testBasic, Pin: testPin, Proc: testTrueProc, Proc2: testProc2, Exit: testTrueExit,
		Entry: testTrueEntry, Misc: testMisc, CR0Fixed0: testCR0Fixed0, CR0Fixed1: testCR0Fixed1,
		CR4Fixed0: testCR4Fixed0, CR4Fixed1: testCR4Fixed1, EPTVPID: testEPTVPID}
}

// testMSRs are the MSRs of the test processor.
func testMSRs() map[uint32]uint64 {
	return map[uint32]uint64{
		IA32_FEATURE_CONTROL: 0,
		IA32_VMX_BASIC:       testBasic, IA32_VMX_PINBASED_CTLS: testPin | 0x16,
		IA32_VMX_PROCBASED_CTLS: testProc, IA32_VMX_EXIT_CTLS: testTrueExit | 0x4, IA32_VMX_ENTRY_CTLS: testTrueEntry | 0x4,
		IA32_VMX_TRUE_PINBASED_CTLS: testPin, IA32_VMX_TRUE_PROCBASED_CTLS: testTrueProc,
		IA32_VMX_TRUE_EXIT_CTLS: testTrueExit, IA32_VMX_TRUE_ENTRY_CTLS: testTrueEntry,
		IA32_VMX_MISC: testMisc, IA32_VMX_CR0_FIXED0: testCR0Fixed0, IA32_VMX_CR0_FIXED1: testCR0Fixed1,
		IA32_VMX_CR4_FIXED0: testCR4Fixed0, IA32_VMX_CR4_FIXED1: testCR4Fixed1,
		IA32_VMX_PROCBASED_CTLS2: testProc2, IA32_VMX_EPT_VPID_CAP: testEPTVPID,
		IA32_EFER: EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE, IA32_PAT: defaultPAT,
		IA32_FS_BASE: 0x4000_1000, IA32_GS_BASE: 0,
		IA32_STAR: 0, IA32_LSTAR: 0, IA32_CSTAR: 0, IA32_FMASK: 0, IA32_KERNEL_GS_BASE: 0,
	}
}

// testMem is host physical memory [base, base+len(b)) backed by a Go
// slice, page-aligned in the Go heap as well: it is both the
// hv.PhysMemory the EPT builder uses and the view the backend lays its
// bitmaps and FPU area over.
type testMem struct {
	base hv.PA
	b    []byte
}

func newTestMem(base hv.PA, size int) *testMem {
	raw := make([]byte, size+hv.PageSize)
	off := int(hv.PageSize - addrOf(raw)%hv.PageSize)
	return &testMem{base: base, b: raw[off : off+size]}
}

func (m *testMem) index(pa hv.PA, n uint64) (uint64, bool) {
	if pa < m.base || uint64(pa-m.base)+n > uint64(len(m.b)) {
		return 0, false
	}
	return uint64(pa - m.base), true
}

func (m *testMem) Read64(pa hv.PA) uint64 {
	i, ok := m.index(pa, 8)
	if !ok {
		panic("testMem: read outside memory")
	}
	return binary.LittleEndian.Uint64(m.b[i:])
}

func (m *testMem) Write64(pa hv.PA, v uint64) {
	i, ok := m.index(pa, 8)
	if !ok {
		panic("testMem: write outside memory")
	}
	binary.LittleEndian.PutUint64(m.b[i:], v)
}

func (m *testMem) view(pa hv.PA, size uint64) []byte {
	i, ok := m.index(pa, size)
	if !ok {
		return nil
	}
	return m.b[i : i+size : i+size]
}

// entryRecord is what the fake processor saw at one VM entry.
type entryRecord struct {
	vmcs     hv.PA
	launched bool
	gprs     GPRs
	intr     IntrInfo
	intrErr  uint32
	intrLen  uint32
	rip      uint64
	rflags   uint64
	proc     uint32
	entry    uint32
}

// exitStep is one scripted VM exit (or a failure of the entry).
type exitStep struct {
	status   RunStatus // non-zero: the entry fails as an instruction
	insnErr  uint64    // VM_INSTRUCTION_ERROR for status with ZF
	reason   uint32
	qual     uint64
	instrLen uint32
	intr     uint32
	intrErr  uint32
	idt      uint32
	idtErr   uint32
	gpa      uint64
	// guest changes the guest state as the guest would have until the
	// exit (registers, RIP, fields).
	guest func(s *MapVMCS, g *GPRs)
}

// fakeHost is a processor in VMX root operation for the backend: MSRs
// and control registers in variables, each VMCS a MapVMCS, and VM entries
// that follow a script.
type fakeHost struct {
	t         testing.TB
	cpuidECX  uint32
	msrs      map[uint32]uint64
	msrWrites []uint32
	msrReads  []uint32
	cr0, cr3  uint64
	cr4       uint64
	segs      HostSegments
	oldGDT    []byte
	loadedGDT [3]uint64 // base, limit, tr
	vmxonAt   []hv.PA
	vmxonSt   Status
	vmclears  []hv.PA
	vmcs      map[hv.PA]*MapVMCS
	current   hv.PA
	inveps    [][2]uint64
	invvpids  []uint16
	script    []exitStep
	entries   []entryRecord
	exitRIP   uint64
}

func newFakeHost(t testing.TB) *fakeHost {
	return &fakeHost{
		t:        t,
		cpuidECX: CPUID_1_ECX_VMX,
		msrs:     testMSRs(),
		cr0:      CR0_PE | CR0_MP | CR0_ET | CR0_PG,
		cr3:      0x10_0000,
		cr4:      CR4_PAE | 1<<9 | 1<<10, // OSFXSR, OSXMMEXCPT
		segs: HostSegments{CS: 0x08, SS: 0x10, DS: 0x10, ES: 0x10, FS: 0, GS: 0,
			GDTRBase: 0x12_3000, GDTRLimit: 3*8 - 1, IDTRBase: 0x12_4000, IDTRLimit: 0xfff},
		// null, 64-bit code, data (hv/amd64 cpuinit's GDT)
		oldGDT:  []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x9a, 0x20, 0, 0, 0, 0, 0, 0, 0x92, 0, 0},
		vmcs:    map[hv.PA]*MapVMCS{},
		exitRIP: 0x1_0badc0de,
	}
}

func (f *fakeHost) vmcsAt(pa hv.PA) *MapVMCS {
	m, ok := f.vmcs[pa]
	if !ok {
		m = NewMapVMCS()
		f.vmcs[pa] = m
	}
	return m
}

// fakeVMCS makes its VMCS current on every access, as the hardware
// accessor does with VMPTRLD.
type fakeVMCS struct {
	f  *fakeHost
	pa hv.PA
}

func (v fakeVMCS) Read(fl Field) uint64 {
	v.f.current = v.pa
	return v.f.vmcsAt(v.pa).Read(fl)
}

func (v fakeVMCS) Write(fl Field, x uint64) {
	v.f.current = v.pa
	v.f.vmcsAt(v.pa).Write(fl, x)
}

func (f *fakeHost) host() *Host {
	return &Host{
		CPUID: func(leaf, sub uint32) (a, b, c, d uint32) {
			if leaf == CPUID_FEATURES {
				return 0, 0, f.cpuidECX, 0
			}
			return 0, 0, 0, 0
		},
		RDMSR: func(m uint32) uint64 {
			v, ok := f.msrs[m]
			if !ok {
				f.t.Fatalf("RDMSR of MSR %#x the test processor lacks", m)
			}
			f.msrReads = append(f.msrReads, m)
			return v
		},
		WRMSR: func(m uint32, v uint64) {
			if _, ok := f.msrs[m]; !ok {
				f.t.Fatalf("WRMSR of MSR %#x the test processor lacks", m)
			}
			f.msrs[m] = v
			f.msrWrites = append(f.msrWrites, m)
		},
		ReadCR0:  func() uint64 { return f.cr0 },
		ReadCR3:  func() uint64 { return f.cr3 },
		ReadCR4:  func() uint64 { return f.cr4 },
		WriteCR0: func(v uint64) { f.cr0 = v },
		WriteCR4: func(v uint64) { f.cr4 = v },
		Segments: func() HostSegments { return f.segs },
		LoadGDT: func(base uint64, limit, tr uint16) {
			f.loadedGDT = [3]uint64{base, uint64(limit), uint64(tr)}
			f.segs.GDTRBase, f.segs.GDTRLimit, f.segs.TR = base, limit, tr
		},
		Linear: func(va uint64, n int) []byte {
			if va < f.segs.GDTRBase || va+uint64(n) > f.segs.GDTRBase+uint64(len(f.oldGDT)) {
				f.t.Fatalf("Linear(%#x, %d) outside the GDT", va, n)
			}
			return f.oldGDT[va-f.segs.GDTRBase:][:n]
		},
		VMXON: func(pa hv.PA) Status {
			f.vmxonAt = append(f.vmxonAt, pa)
			return f.vmxonSt
		},
		VMCLEAR: func(pa hv.PA) Status {
			f.vmclears = append(f.vmclears, pa)
			if f.current == pa {
				f.current = 0
			}
			return VMSUCCEED
		},
		VMCS: func(pa hv.PA) VMCS { return fakeVMCS{f, pa} },
		INVEPT: func(typ, eptp uint64) Status {
			f.inveps = append(f.inveps, [2]uint64{typ, eptp})
			return VMSUCCEED
		},
		INVVPID: func(typ uint64, vpid uint16) Status {
			f.invvpids = append(f.invvpids, vpid)
			return VMSUCCEED
		},
		Run:     f.run,
		ExitRIP: f.exitRIP,
	}
}

// run is the fake world switch: it records the entry, then applies the
// next scripted exit to the VMCS and the registers.
func (f *fakeHost) run(vmcs hv.PA, launched bool, gprs *GPRs, fpu uintptr) RunStatus {
	f.t.Helper()
	if fpu == 0 {
		f.t.Fatal("run without an FPU area")
	}
	f.current = vmcs
	s := f.vmcsAt(vmcs)
	f.entries = append(f.entries, entryRecord{vmcs: vmcs, launched: launched, gprs: *gprs,
		intr: IntrInfo(s.Read(VM_ENTRY_INTR_INFO_FIELD)), intrErr: uint32(s.Read(VM_ENTRY_EXCEPTION_ERROR_CODE)),
		intrLen: uint32(s.Read(VM_ENTRY_INSTRUCTION_LEN)), rip: s.Read(GUEST_RIP), rflags: s.Read(GUEST_RFLAGS),
		proc: uint32(s.Read(CPU_BASED_VM_EXEC_CONTROL)), entry: uint32(s.Read(VM_ENTRY_CONTROLS))})
	if len(f.script) == 0 {
		f.t.Fatal("fake VM entry without a scripted exit")
	}
	x := f.script[0]
	f.script = f.script[1:]
	if x.status != 0 {
		if x.status.Status() == VMFAIL_VALID {
			s.Write(VM_INSTRUCTION_ERROR, x.insnErr)
		}
		return x.status
	}
	if x.guest != nil {
		x.guest(s, gprs)
	}
	s.Write(VM_EXIT_REASON, uint64(x.reason))
	s.Write(EXIT_QUALIFICATION, x.qual)
	s.Write(VM_EXIT_INSTRUCTION_LEN, uint64(x.instrLen))
	s.Write(VM_EXIT_INTR_INFO, uint64(x.intr))
	s.Write(VM_EXIT_INTR_ERROR_CODE, uint64(x.intrErr))
	s.Write(IDT_VECTORING_INFO_FIELD, uint64(x.idt))
	s.Write(IDT_VECTORING_ERROR_CODE, uint64(x.idtErr))
	s.Write(GUEST_PHYSICAL_ADDRESS, x.gpa)
	if x.reason&EXIT_REASON_ENTRY_FAILURE == 0 {
		// 28.2.x: every VM exit clears the valid bit of the VM-entry
		// interruption-information field.
		s.Write(VM_ENTRY_INTR_INFO_FIELD, s.Read(VM_ENTRY_INTR_INFO_FIELD)&^INTR_INFO_VALID)
	}
	return 0
}

// testRig is an Ops, a VM with 2 MiB of RAM at guest-physical 0, and its
// first vCPU, all on a fakeHost.
type testRig struct {
	f   *fakeHost
	mem *testMem
	ops *Ops
	g   *guest
	v   *vcpu
}

const (
	rigMemBase = hv.PA(0x40_0000)
	rigTables  = rigMemBase             // 1 MiB of tables
	rigRAM     = rigMemBase + 0x20_0000 // 2 MiB of guest RAM
	rigMemSize = 0x40_0000
	rigEntry   = 0x10_0000
	rigInfo    = 0x8000
)

func newRig(t testing.TB) *testRig {
	t.Helper()
	f := newFakeHost(t)
	hs := HostState{CR0: f.cr0 | CR0_NE, CR3: f.cr3, CR4: f.cr4 | CR4_VMXE, CS: 8, SS: 0x10, DS: 0x10, ES: 0x10,
		TR: 0x18, TRBase: 0x12_5000, GDTRBase: 0x12_3000, IDTRBase: 0x12_4000,
		EFER: f.msrs[IA32_EFER], PAT: defaultPAT, RIP: f.exitRIP}
	ops, err := NewOps(f.host(), testCaps(), hs)
	if err != nil {
		t.Fatal(err)
	}
	mem := newTestMem(rigMemBase, rigMemSize)
	alloc := &hv.BumpAllocator{Next: rigTables, Limit: rigTables + 0x10_0000, Mem: mem}
	g, err := ops.NewGuest(alloc, mem, mem.view)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Map(0, rigRAM, 0x20_0000, amd64MapRWX); err != nil {
		t.Fatal(err)
	}
	be, err := g.NewVCPU(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	v := be.(*vcpu)
	v.ResetPVH(rigEntry, rigInfo)
	return &testRig{f: f, mem: mem, ops: ops, g: g.(*guest), v: v}
}

// vmcs is the rig vCPU's VMCS.
func (r *testRig) vmcs() *MapVMCS { return r.f.vmcsAt(r.v.vmcsPA) }

// lastEntry is what the last VM entry loaded.
func (r *testRig) lastEntry() entryRecord {
	if len(r.f.entries) == 0 {
		r.f.t.Fatal("no VM entry yet")
	}
	return r.f.entries[len(r.f.entries)-1]
}
