// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import (
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

const testRIP = 0xffff_ffff_8100_0000

type decodeCase struct {
	name  string
	code  uint64
	info1 uint64
	info2 uint64
	nrip  uint64
	rip   uint64
	rax   uint64
	rcx   uint64
	nrips bool
	want  hv.Exit // Vendor, RIP and SVM are filled in by the test
}

var decodeCases = []decodeCase{
	// IOIO (APM 15.10.2 Figure 15-2): OUT DX, AL to COM1, 1 byte; the
	// next rIP comes from EXITINFO2 even without NRIPS.
	{name: "out byte", code: VMEXIT_IOIO, info1: 0x3f8<<16 | IOIO_SZ8 | IOIO_A64,
		info2: testRIP + 1, rip: testRIP, rax: 0x1234_5641,
		want: hv.Exit{Reason: hv.ExitIO, InstrLen: 1, IO: hv.IOExit{Port: 0x3f8, Size: 1, Write: true, Value: 0x41}}},
	{name: "out word imm8", code: VMEXIT_IOIO, info1: 0x80<<16 | IOIO_SZ16 | IOIO_A32,
		info2: testRIP + 3, rip: testRIP, rax: 0xffff_ffff_ffff_abcd, nrips: true, nrip: testRIP + 3,
		want: hv.Exit{Reason: hv.ExitIO, InstrLen: 3, IO: hv.IOExit{Port: 0x80, Size: 2, Write: true, Value: 0xabcd}}},
	{name: "out dword", code: VMEXIT_IOIO, info1: 0xcf8<<16 | IOIO_SZ32 | IOIO_A64,
		info2: testRIP + 1, rip: testRIP, rax: 0xdead_beef_8000_f800,
		want: hv.Exit{Reason: hv.ExitIO, InstrLen: 1, IO: hv.IOExit{Port: 0xcf8, Size: 4, Write: true, Value: 0x8000_f800}}},
	{name: "in dword", code: VMEXIT_IOIO, info1: 0xcfc<<16 | IOIO_SZ32 | IOIO_A64 | IOIO_TYPE_IN,
		info2: testRIP + 1, rip: testRIP, rax: 0x5555,
		want: hv.Exit{Reason: hv.ExitIO, InstrLen: 1, IO: hv.IOExit{Port: 0xcfc, Size: 4}}},
	{name: "rep outsb", code: VMEXIT_IOIO, info1: 0x3f8<<16 | IOIO_SZ8 | IOIO_A64 | IOIO_STR | IOIO_REP | 3<<IOIO_SEG_SHIFT,
		info2: testRIP + 2, rip: testRIP, rax: 0x41,
		want: hv.Exit{Reason: hv.ExitIO, InstrLen: 2, IO: hv.IOExit{Port: 0x3f8, Size: 1, Write: true, String: true, Rep: true}}},
	{name: "in port 0xffff", code: VMEXIT_IOIO, info1: 0xffff<<16 | IOIO_SZ8 | IOIO_TYPE_IN,
		info2: 0x101, rip: 0x100,
		want: hv.Exit{Reason: hv.ExitIO, InstrLen: 1, IO: hv.IOExit{Port: 0xffff, Size: 1}}},
	{name: "io no size bits", code: VMEXIT_IOIO, info1: 0x3f8 << 16, info2: testRIP + 1, rip: testRIP,
		want: hv.Exit{Reason: hv.ExitUnknown, InstrLen: 1}},
	{name: "io two size bits", code: VMEXIT_IOIO, info1: 0x3f8<<16 | IOIO_SZ8 | IOIO_SZ32, info2: testRIP + 1, rip: testRIP,
		want: hv.Exit{Reason: hv.ExitUnknown, InstrLen: 1}},
	{name: "io bogus next rip", code: VMEXIT_IOIO, info1: 0x60<<16 | IOIO_SZ8 | IOIO_TYPE_IN, info2: testRIP + 16, rip: testRIP,
		want: hv.Exit{Reason: hv.ExitIO, IO: hv.IOExit{Port: 0x60, Size: 1}}},

	// MSR (15.11): EXITINFO1 0 RDMSR, 1 WRMSR; the number is ECX.
	{name: "rdmsr", code: VMEXIT_MSR, info1: 0, rcx: 0xffff_ffff_c000_0080, nrips: true, nrip: testRIP + 2, rip: testRIP,
		want: hv.Exit{Reason: hv.ExitMSR, InstrLen: 2, MSR: MSR_EFER}},
	{name: "wrmsr no nrips", code: VMEXIT_MSR, info1: 1, rcx: 0x1b, nrip: testRIP + 2, rip: testRIP,
		want: hv.Exit{Reason: hv.ExitMSR, MSR: 0x1b, Write: true}},
	{name: "msr bad info1", code: VMEXIT_MSR, info1: 2, rcx: 0x1b,
		want: hv.Exit{Reason: hv.ExitUnknown}},

	// NPF (15.25.6): EXITINFO1 error code, EXITINFO2 GPA; nRIP is 0.
	{name: "npf write", code: VMEXIT_NPF, info1: NPF_FINAL | NPF_US | NPF_RW | NPF_P, info2: 0xfee0_0030, rip: testRIP, nrips: true,
		want: hv.Exit{Reason: hv.ExitNPF, GPA: 0xfee0_0030, Access: hv.AccessWrite}},
	{name: "npf read", code: VMEXIT_NPF, info1: NPF_FINAL | NPF_US, info2: 0x1_0000_0000, rip: testRIP, nrips: true,
		want: hv.Exit{Reason: hv.ExitNPF, GPA: 0x1_0000_0000, Access: hv.AccessRead}},
	{name: "npf fetch", code: VMEXIT_NPF, info1: NPF_FINAL | NPF_ID | NPF_US | NPF_P, info2: 0x20_0000, rip: 0x20_0000,
		want: hv.Exit{Reason: hv.ExitNPF, GPA: 0x20_0000, Access: hv.AccessExec}},
	{name: "npf table walk write", code: VMEXIT_NPF, info1: NPF_TABLE | NPF_US | NPF_RW, info2: 0x9000,
		want: hv.Exit{Reason: hv.ExitNPF, GPA: 0x9000, Access: hv.AccessWrite}},

	// Exceptions (Table C-1: 0x40 + vector).
	{name: "#PF", code: VMEXIT_EXCP_BASE + VECTOR_PF, info1: 0x2, info2: 0xdead_b000, rip: testRIP,
		want: hv.Exit{Reason: hv.ExitException, Vector: VECTOR_PF, ErrorCode: 2, HasError: true}},
	{name: "#GP", code: VMEXIT_EXCP_BASE + VECTOR_GP, info1: 0xffff_ffff_0000_0018,
		want: hv.Exit{Reason: hv.ExitException, Vector: VECTOR_GP, ErrorCode: 0x18, HasError: true}},
	{name: "#DF", code: 0x48, want: hv.Exit{Reason: hv.ExitException, Vector: VECTOR_DF, HasError: true}},
	{name: "#SX", code: 0x5e, info1: 1, want: hv.Exit{Reason: hv.ExitException, Vector: VECTOR_SX, ErrorCode: 1, HasError: true}},
	{name: "#UD", code: 0x46, info1: 0x1234, want: hv.Exit{Reason: hv.ExitException, Vector: VECTOR_UD}},
	{name: "#BP nrips", code: 0x43, rip: 0x1000, nrip: 0x1001, nrips: true, want: hv.Exit{Reason: hv.ExitException, Vector: VECTOR_BP, InstrLen: 1}},
	{name: "vector 31", code: 0x5f, want: hv.Exit{Reason: hv.ExitException, Vector: 31}},

	// Instructions.
	{name: "cpuid", code: VMEXIT_CPUID, rip: testRIP, nrip: testRIP + 2, nrips: true,
		want: hv.Exit{Reason: hv.ExitCPUID, InstrLen: 2}},
	{name: "cpuid no nrips", code: VMEXIT_CPUID, rip: testRIP, nrip: testRIP + 2,
		want: hv.Exit{Reason: hv.ExitCPUID}},
	{name: "hlt", code: VMEXIT_HLT, rip: 0x7c00, nrip: 0x7c01, nrips: true,
		want: hv.Exit{Reason: hv.ExitHLT, InstrLen: 1}},
	{name: "vmmcall", code: VMEXIT_VMMCALL, rip: 0x1000, nrip: 0x1003, nrips: true,
		want: hv.Exit{Reason: hv.ExitHypercall, InstrLen: 3}},
	{name: "nrip too far", code: VMEXIT_VMMCALL, rip: 0x1000, nrip: 0x1010, nrips: true,
		want: hv.Exit{Reason: hv.ExitHypercall}},
	{name: "nrip max", code: VMEXIT_VMMCALL, rip: 0x1000, nrip: 0x100f, nrips: true,
		want: hv.Exit{Reason: hv.ExitHypercall, InstrLen: 15}},
	{name: "nrip zero at the top", code: VMEXIT_HLT, rip: 0xffff_ffff_ffff_fff8, nrip: 0, nrips: true,
		want: hv.Exit{Reason: hv.ExitHLT}},
	{name: "nrip behind", code: VMEXIT_HLT, rip: 0x2000, nrip: 0x1fff, nrips: true,
		want: hv.Exit{Reason: hv.ExitHLT}},

	// Events and state.
	{name: "vintr", code: VMEXIT_VINTR, want: hv.Exit{Reason: hv.ExitInterruptWindow}},
	{name: "intr", code: VMEXIT_INTR, want: hv.Exit{Reason: hv.ExitInterrupt}},
	{name: "nmi", code: VMEXIT_NMI, want: hv.Exit{Reason: hv.ExitInterrupt}},
	{name: "shutdown", code: VMEXIT_SHUTDOWN, want: hv.Exit{Reason: hv.ExitShutdown}},
	{name: "invalid", code: VMEXIT_INVALID, want: hv.Exit{Reason: hv.ExitInvalidState}},
	{name: "busy", code: VMEXIT_BUSY, want: hv.Exit{Reason: hv.ExitInvalidState}},

	// SVM and hidden instructions: inject #UD.
	{name: "vmrun", code: VMEXIT_VMRUN, rip: 0x1000, nrip: 0x1003, nrips: true, want: hv.Exit{Reason: hv.ExitOther, InstrLen: 3}},
	{name: "vmload", code: VMEXIT_VMLOAD, want: hv.Exit{Reason: hv.ExitOther}},
	{name: "vmsave", code: VMEXIT_VMSAVE, want: hv.Exit{Reason: hv.ExitOther}},
	{name: "stgi", code: VMEXIT_STGI, want: hv.Exit{Reason: hv.ExitOther}},
	{name: "clgi", code: VMEXIT_CLGI, want: hv.Exit{Reason: hv.ExitOther}},
	{name: "skinit", code: VMEXIT_SKINIT, want: hv.Exit{Reason: hv.ExitOther}},
	{name: "invlpga", code: VMEXIT_INVLPGA, want: hv.Exit{Reason: hv.ExitOther}},
	{name: "rdtscp", code: VMEXIT_RDTSCP, want: hv.Exit{Reason: hv.ExitOther}},
	{name: "monitor", code: VMEXIT_MONITOR, want: hv.Exit{Reason: hv.ExitOther}},
	{name: "mwait", code: VMEXIT_MWAIT, want: hv.Exit{Reason: hv.ExitOther}},
	{name: "mwait cond", code: VMEXIT_MWAIT_CONDITIONAL, want: hv.Exit{Reason: hv.ExitOther}},
	{name: "rdpru", code: VMEXIT_RDPRU, want: hv.Exit{Reason: hv.ExitOther}},
	{name: "tlbsync", code: VMEXIT_TLBSYNC, want: hv.Exit{Reason: hv.ExitOther}},

	// Not decoded.
	{name: "rdtsc", code: VMEXIT_RDTSC, want: hv.Exit{Reason: hv.ExitUnknown}},
	{name: "wbinvd", code: VMEXIT_WBINVD, want: hv.Exit{Reason: hv.ExitUnknown}},
	{name: "xsetbv", code: VMEXIT_XSETBV, want: hv.Exit{Reason: hv.ExitUnknown}},
	{name: "cr3 write", code: VMEXIT_CR0_WRITE + 3, want: hv.Exit{Reason: hv.ExitUnknown}},
	{name: "vector 32 is not an exception", code: VMEXIT_EXCP_BASE + 32, want: hv.Exit{Reason: hv.ExitInterrupt}},
	{name: "avic", code: VMEXIT_AVIC_NOACCEL, want: hv.Exit{Reason: hv.ExitUnknown}},
	{name: "junk", code: 0x1234_5678_9abc, want: hv.Exit{Reason: hv.ExitUnknown}},
}

func TestDecode(t *testing.T) {
	// One Exit reused across cases: Decode must clear what an earlier
	// exit left behind.
	var e hv.Exit
	for _, c := range decodeCases {
		var ctl ControlArea
		var save SaveArea
		ctl.ExitCode, ctl.ExitInfo1, ctl.ExitInfo2, ctl.NextRIP = c.code, c.info1, c.info2, c.nrip
		ctl.ExitIntInfo = InjectInterrupt(0x30)
		save.RIP, save.RAX = c.rip, c.rax
		Decode(&ctl, &save, c.rcx, c.nrips, &e)

		want := c.want
		want.Vendor = hv.VendorSVM
		want.RIP = c.rip
		want.SVM = hv.SVMExit{ExitCode: c.code, ExitInfo1: c.info1, ExitInfo2: c.info2,
			ExitIntInfo: uint64(InjectInterrupt(0x30)), NextRIP: c.nrip}
		if e != want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, e, want)
		}
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	ctl := ControlArea{ExitCode: VMEXIT_IOIO, ExitInfo1: 0x3f8<<16 | IOIO_SZ8, ExitInfo2: 0x1001}
	save := SaveArea{RIP: 0x1000, RAX: 0x41}
	var e hv.Exit
	if n := testing.AllocsPerRun(100, func() { Decode(&ctl, &save, 0, true, &e) }); n != 0 {
		t.Errorf("Decode allocates %v times", n)
	}
}

func TestExitCodeName(t *testing.T) {
	for code, want := range map[uint64]string{
		0x000:          "VMEXIT_CR0_READ",
		0x003:          "VMEXIT_CR3_READ",
		0x01f:          "VMEXIT_CR15_WRITE",
		0x027:          "VMEXIT_DR7_READ",
		0x030:          "VMEXIT_DR0_WRITE",
		0x04e:          "VMEXIT_EXCP14",
		0x05f:          "VMEXIT_EXCP31",
		0x060:          "VMEXIT_INTR",
		0x072:          "VMEXIT_CPUID",
		0x077:          "VMEXIT_PAUSE",
		0x078:          "VMEXIT_HLT",
		0x07b:          "VMEXIT_IOIO",
		0x07c:          "VMEXIT_MSR",
		0x07f:          "VMEXIT_SHUTDOWN",
		0x081:          "VMEXIT_VMMCALL",
		0x08d:          "VMEXIT_XSETBV",
		0x094:          "VMEXIT_CR4_WRITE_TRAP",
		0x400:          "VMEXIT_NPF",
		VMEXIT_INVALID: "VMEXIT_INVALID",
		VMEXIT_BUSY:    "VMEXIT_BUSY",
		0x0a5:          "VMEXIT_UNKNOWN(0xa5)",
		0x404:          "VMEXIT_UNKNOWN(0x404)",
	} {
		if got := ExitCodeName(code); got != want {
			t.Errorf("ExitCodeName(%#x) = %q, want %q", code, got, want)
		}
	}
}

func TestIOIOInfo(t *testing.T) {
	i := IOIOInfo(0x1234<<16 | 5<<IOIO_SEG_SHIFT | IOIO_SZ16 | IOIO_REP | IOIO_STR | IOIO_TYPE_IN)
	if i.Port() != 0x1234 || i.Segment() != 5 || i.Size() != 2 || !i.Rep() || !i.StringOp() || !i.In() {
		t.Errorf("decoded port=%#x seg=%d size=%d rep=%t str=%t in=%t", i.Port(), i.Segment(), i.Size(), i.Rep(), i.StringOp(), i.In())
	}
	n := NPFInfo(NPF_P | NPF_RSV)
	if !n.Present() || !n.Reserved() || n.Access() != hv.AccessRead {
		t.Error("NPFInfo")
	}
}

// FuzzDecode guards APM Vol. 2 Appendix C and 15.10.2 / 15.11 / 15.25.6:
// whatever the CPU (or a corrupted VMCB) puts in the exit fields, Decode
// must not panic and must produce a well-formed hv.Exit.
func FuzzDecode(f *testing.F) {
	for _, c := range decodeCases {
		f.Add(c.code, c.info1, c.info2, c.nrip, c.rip, c.rax, c.rcx, c.nrips)
	}
	f.Fuzz(func(t *testing.T, code, info1, info2, nrip, rip, rax, rcx uint64, nrips bool) {
		// Also try the code folded into the defined range, so random
		// inputs reach the decoded exits.
		for _, code := range []uint64{code, code % 0x410} {
			ctl := ControlArea{ExitCode: code, ExitInfo1: info1, ExitInfo2: info2, NextRIP: nrip, ExitIntInfo: EventInj(rcx)}
			save := SaveArea{RIP: rip, RAX: rax}
			var e hv.Exit
			Decode(&ctl, &save, rcx, nrips, &e)
			if e.Vendor != hv.VendorSVM || e.RIP != rip || e.SVM.ExitCode != code || e.SVM.ExitInfo1 != info1 ||
				e.SVM.ExitInfo2 != info2 || e.SVM.NextRIP != nrip || e.SVM.ExitIntInfo != rcx {
				t.Fatalf("raw fields not copied: %+v", e)
			}
			if e.InstrLen < 0 || e.InstrLen > 15 {
				t.Fatalf("InstrLen %d", e.InstrLen)
			}
			if int(e.Reason) >= hv.NumExitReasons {
				t.Fatalf("reason %d", e.Reason)
			}
			switch e.Reason {
			case hv.ExitIO:
				if s := e.IO.Size; s != 1 && s != 2 && s != 4 {
					t.Fatalf("IO size %d", s)
				}
				if uint64(e.IO.Value) >= 1<<(8*e.IO.Size) || (!e.IO.Write || e.IO.String) && e.IO.Value != 0 {
					t.Fatalf("IO value %#x for %+v", e.IO.Value, e.IO)
				}
			case hv.ExitException:
				if code < VMEXIT_EXCP_BASE || code >= VMEXIT_EXCP_BASE+32 || e.Vector != uint8(code-VMEXIT_EXCP_BASE) {
					t.Fatalf("exception from code %#x: %+v", code, e)
				}
			case hv.ExitMSR:
				if e.MSR != uint32(rcx) {
					t.Fatalf("MSR %#x from rcx %#x", e.MSR, rcx)
				}
			}
			if !nrips && code != VMEXIT_IOIO && e.InstrLen != 0 {
				t.Fatalf("InstrLen %d without NRIPS", e.InstrLen)
			}
			if name := ExitCodeName(code); !strings.HasPrefix(name, "VMEXIT_") {
				t.Fatalf("name %q", name)
			}
		}
	})
}
