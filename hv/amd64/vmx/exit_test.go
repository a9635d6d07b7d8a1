// hv/amd64/vmx: Intel VMX support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmx

import (
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

func TestReasonName(t *testing.T) {
	for r, name := range map[uint16]string{
		0: "EXCEPTION_NMI", 1: "EXTERNAL_INTERRUPT", 2: "TRIPLE_FAULT", 7: "INTERRUPT_WINDOW",
		10: "CPUID", 12: "HLT", 18: "VMCALL", 19: "VMCLEAR", 27: "VMXON", 28: "CR_ACCESS",
		30: "IO_INSTRUCTION", 31: "RDMSR", 32: "WRMSR", 33: "INVALID_GUEST_STATE",
		48: "EPT_VIOLATION", 49: "EPT_MISCONFIG", 52: "PREEMPTION_TIMER", 55: "XSETBV",
		77: "TDCALL", 35: "reason(35)", 38: "reason(38)", 42: "reason(42)", 71: "reason(71)",
		78: "reason(78)", 0xffff: "reason(65535)",
	} {
		if got := ReasonName(r); got != name {
			t.Errorf("ReasonName(%d) = %q, want %q", r, got, name)
		}
	}
	// Every defined name is distinct.
	seen := map[string]bool{}
	for _, n := range reasonNames {
		if n != "" && seen[n] {
			t.Errorf("duplicate reason name %s", n)
		}
		seen[n] = true
	}
}

func TestDecode(t *testing.T) {
	const rip = 0xffff_8000_0010_2030
	cases := []struct {
		name     string
		raw      hv.VMXExit
		rax, rcx uint64
		want     hv.Exit // Vendor, VMX and RIP are filled in by the test
	}{
		{"out dx, al", hv.VMXExit{Reason: EXIT_REASON_IO_INSTRUCTION, Qualification: 0x03f8_0000, InstrLen: 1}, 0x1234_5678_9abc_de41, 0,
			hv.Exit{Reason: hv.ExitIO, InstrLen: 1, IO: hv.IOExit{Port: 0x3f8, Size: 1, Write: true, Value: 0x41}}},
		{"out 0x80, ax (immediate)", hv.VMXExit{Reason: EXIT_REASON_IO_INSTRUCTION, Qualification: 0x0080_0041, InstrLen: 3}, 0xdead_beef, 0,
			hv.Exit{Reason: hv.ExitIO, InstrLen: 3, IO: hv.IOExit{Port: 0x80, Size: 2, Write: true, Value: 0xbeef}}},
		{"in eax, dx", hv.VMXExit{Reason: EXIT_REASON_IO_INSTRUCTION, Qualification: 0xcfc_000b, InstrLen: 1}, 0xffff_ffff, 0,
			hv.Exit{Reason: hv.ExitIO, InstrLen: 1, IO: hv.IOExit{Port: 0xcfc, Size: 4}}},
		{"out dx, eax", hv.VMXExit{Reason: EXIT_REASON_IO_INSTRUCTION, Qualification: 0xcf8_0003, InstrLen: 1}, 0x1_8000_0010, 0,
			hv.Exit{Reason: hv.ExitIO, InstrLen: 1, IO: hv.IOExit{Port: 0xcf8, Size: 4, Write: true, Value: 0x8000_0010}}},
		{"rep outsb", hv.VMXExit{Reason: EXIT_REASON_IO_INSTRUCTION, Qualification: 0x03f8_0030, InstrLen: 2}, 0x41, 0,
			hv.Exit{Reason: hv.ExitIO, InstrLen: 2, IO: hv.IOExit{Port: 0x3f8, Size: 1, Write: true, String: true, Rep: true}}},
		{"rep insw", hv.VMXExit{Reason: EXIT_REASON_IO_INSTRUCTION, Qualification: 0x01f0_0039, InstrLen: 3}, 0, 0,
			hv.Exit{Reason: hv.ExitIO, InstrLen: 3, IO: hv.IOExit{Port: 0x1f0, Size: 2, String: true, Rep: true}}},
		{"io size 3 bytes (reserved)", hv.VMXExit{Reason: EXIT_REASON_IO_INSTRUCTION, Qualification: 0x03f8_0002, InstrLen: 1}, 0, 0,
			hv.Exit{Reason: hv.ExitUnknown, InstrLen: 1}},
		{"rdmsr", hv.VMXExit{Reason: EXIT_REASON_RDMSR, InstrLen: 2}, 0, 0xffff_ffff_c000_0080,
			hv.Exit{Reason: hv.ExitMSR, InstrLen: 2, MSR: 0xc000_0080}},
		{"wrmsr", hv.VMXExit{Reason: EXIT_REASON_WRMSR, InstrLen: 2}, 0x1234, 0x1b,
			hv.Exit{Reason: hv.ExitMSR, InstrLen: 2, MSR: 0x1b, Write: true}},
		{"ept violation write", hv.VMXExit{Reason: EXIT_REASON_EPT_VIOLATION, Qualification: 0x182, GuestPhysical: 0xfee0_0030, GuestLinear: 0xffff_ffff_fee0_0030, InstrLen: 7}, 0, 0,
			hv.Exit{Reason: hv.ExitNPF, InstrLen: 7, GPA: 0xfee0_0030, Access: hv.AccessWrite}},
		{"ept violation fetch", hv.VMXExit{Reason: EXIT_REASON_EPT_VIOLATION, Qualification: 0x184, GuestPhysical: 0x10_0000}, 0, 0,
			hv.Exit{Reason: hv.ExitNPF, GPA: 0x10_0000, Access: hv.AccessExec}},
		{"ept violation read-modify-write", hv.VMXExit{Reason: EXIT_REASON_EPT_VIOLATION, Qualification: 0x18b, GuestPhysical: 0x2000}, 0, 0,
			hv.Exit{Reason: hv.ExitNPF, GPA: 0x2000, Access: hv.AccessRead | hv.AccessWrite}},
		{"ept misconfiguration", hv.VMXExit{Reason: EXIT_REASON_EPT_MISCONFIG, GuestPhysical: 0x3000}, 0, 0,
			hv.Exit{Reason: hv.ExitInvalidState, GPA: 0x3000}},
		{"#GP with error code", hv.VMXExit{Reason: EXIT_REASON_EXCEPTION_NMI, IntrInfo: 0x8000_0b0d, IntrError: 0x18}, 0, 0,
			hv.Exit{Reason: hv.ExitException, Vector: 13, ErrorCode: 0x18, HasError: true}},
		{"#UD", hv.VMXExit{Reason: EXIT_REASON_EXCEPTION_NMI, IntrInfo: 0x8000_0306, IntrError: 0x55}, 0, 0,
			hv.Exit{Reason: hv.ExitException, Vector: 6}},
		{"int3 (software exception)", hv.VMXExit{Reason: EXIT_REASON_EXCEPTION_NMI, IntrInfo: 0x8000_0603, InstrLen: 1}, 0, 0,
			hv.Exit{Reason: hv.ExitException, InstrLen: 1, Vector: 3}},
		{"int1 (privileged software exception)", hv.VMXExit{Reason: EXIT_REASON_EXCEPTION_NMI, IntrInfo: 0x8000_0501, InstrLen: 1}, 0, 0,
			hv.Exit{Reason: hv.ExitException, InstrLen: 1, Vector: 1}},
		{"NMI", hv.VMXExit{Reason: EXIT_REASON_EXCEPTION_NMI, IntrInfo: 0x8000_0202}, 0, 0,
			hv.Exit{Reason: hv.ExitInterrupt, Vector: 2}},
		{"exception info not valid", hv.VMXExit{Reason: EXIT_REASON_EXCEPTION_NMI, IntrInfo: 0x0000_0b0d}, 0, 0,
			hv.Exit{Reason: hv.ExitUnknown}},
		{"exception exit with external-interrupt type", hv.VMXExit{Reason: EXIT_REASON_EXCEPTION_NMI, IntrInfo: 0x8000_0020}, 0, 0,
			hv.Exit{Reason: hv.ExitUnknown}},
		{"external interrupt, acknowledged", hv.VMXExit{Reason: EXIT_REASON_EXTERNAL_INTERRUPT, IntrInfo: 0x8000_00ec}, 0, 0,
			hv.Exit{Reason: hv.ExitInterrupt, Vector: 0xec}},
		{"external interrupt, not acknowledged", hv.VMXExit{Reason: EXIT_REASON_EXTERNAL_INTERRUPT}, 0, 0,
			hv.Exit{Reason: hv.ExitInterrupt}},
		{"preemption timer", hv.VMXExit{Reason: EXIT_REASON_PREEMPTION_TIMER}, 0, 0, hv.Exit{Reason: hv.ExitInterrupt}},
		{"interrupt window", hv.VMXExit{Reason: EXIT_REASON_INTERRUPT_WINDOW}, 0, 0, hv.Exit{Reason: hv.ExitInterruptWindow}},
		{"triple fault", hv.VMXExit{Reason: EXIT_REASON_TRIPLE_FAULT}, 0, 0, hv.Exit{Reason: hv.ExitShutdown}},
		{"hlt", hv.VMXExit{Reason: EXIT_REASON_HLT, InstrLen: 1}, 0, 0, hv.Exit{Reason: hv.ExitHLT, InstrLen: 1}},
		{"cpuid", hv.VMXExit{Reason: EXIT_REASON_CPUID, InstrLen: 2}, 0, 0, hv.Exit{Reason: hv.ExitCPUID, InstrLen: 2}},
		{"vmcall", hv.VMXExit{Reason: EXIT_REASON_VMCALL, InstrLen: 3}, 0, 0, hv.Exit{Reason: hv.ExitHypercall, InstrLen: 3}},
		{"vmxon", hv.VMXExit{Reason: EXIT_REASON_VMXON, InstrLen: 5}, 0, 0, hv.Exit{Reason: hv.ExitOther, InstrLen: 5}},
		{"invept", hv.VMXExit{Reason: EXIT_REASON_INVEPT, InstrLen: 5}, 0, 0, hv.Exit{Reason: hv.ExitOther, InstrLen: 5}},
		{"getsec", hv.VMXExit{Reason: EXIT_REASON_GETSEC, InstrLen: 3}, 0, 0, hv.Exit{Reason: hv.ExitOther, InstrLen: 3}},
		{"xsetbv", hv.VMXExit{Reason: EXIT_REASON_XSETBV, InstrLen: 3}, 0, 0, hv.Exit{Reason: hv.ExitOther, InstrLen: 3}},
		{"cr access", hv.VMXExit{Reason: EXIT_REASON_CR_ACCESS, Qualification: 0x104, InstrLen: 3}, 0, 0, hv.Exit{Reason: hv.ExitUnknown, InstrLen: 3}},
		{"undefined reason", hv.VMXExit{Reason: 35}, 0, 0, hv.Exit{Reason: hv.ExitUnknown}},
		{"invalid guest state", hv.VMXExit{Reason: EXIT_REASON_ENTRY_FAILURE | EXIT_REASON_INVALID_GUEST_STATE, Qualification: 0}, 0, 0,
			hv.Exit{Reason: hv.ExitInvalidState}},
		{"invalid guest state without bit 31", hv.VMXExit{Reason: EXIT_REASON_INVALID_GUEST_STATE}, 0, 0, hv.Exit{Reason: hv.ExitInvalidState}},
		{"msr loading", hv.VMXExit{Reason: EXIT_REASON_ENTRY_FAILURE | EXIT_REASON_MSR_LOADING, Qualification: 2}, 0, 0, hv.Exit{Reason: hv.ExitInvalidState}},
		{"machine check during entry", hv.VMXExit{Reason: EXIT_REASON_ENTRY_FAILURE | EXIT_REASON_MACHINE_CHECK}, 0, 0, hv.Exit{Reason: hv.ExitInvalidState}},
		{"entry failure bit with an I/O reason", hv.VMXExit{Reason: EXIT_REASON_ENTRY_FAILURE | EXIT_REASON_IO_INSTRUCTION, Qualification: 0x03f8_0000}, 0x41, 0,
			hv.Exit{Reason: hv.ExitInvalidState}},
		{"instruction length 15", hv.VMXExit{Reason: EXIT_REASON_CPUID, InstrLen: 15}, 0, 0, hv.Exit{Reason: hv.ExitCPUID, InstrLen: 15}},
		{"instruction length 16", hv.VMXExit{Reason: EXIT_REASON_CPUID, InstrLen: 16}, 0, 0, hv.Exit{Reason: hv.ExitCPUID}},
		{"instruction length huge", hv.VMXExit{Reason: EXIT_REASON_CPUID, InstrLen: 0xffff_ffff}, 0, 0, hv.Exit{Reason: hv.ExitCPUID}},
	}
	for _, c := range cases {
		// Start from a dirty record: Decode must overwrite every field.
		e := hv.Exit{Reason: hv.ExitHLT, Vendor: hv.VendorSVM, InstrLen: 9, GPA: 1, MSR: 2, Write: true, Vector: 3, ErrorCode: 4, HasError: true,
			IO: hv.IOExit{Port: 5, Size: 4, Value: 6}, SVM: hv.SVMExit{ExitCode: 7}}
		Decode(c.raw, rip, c.rax, c.rcx, &e)
		want := c.want
		want.Vendor, want.VMX, want.RIP = hv.VendorVMX, c.raw, rip
		if e != want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, e, want)
		}
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	var e hv.Exit
	raws := []hv.VMXExit{
		{Reason: EXIT_REASON_IO_INSTRUCTION, Qualification: 0x03f8_0000, InstrLen: 1},
		{Reason: EXIT_REASON_EPT_VIOLATION, Qualification: 0x182, GuestPhysical: 0x1000},
		{Reason: EXIT_REASON_EXCEPTION_NMI, IntrInfo: 0x8000_0b0e, IntrError: 2},
		{Reason: EXIT_REASON_ENTRY_FAILURE | EXIT_REASON_INVALID_GUEST_STATE},
	}
	if n := testing.AllocsPerRun(100, func() {
		for _, r := range raws {
			Decode(r, 0x1000, 0x41, 0x10, &e)
		}
	}); n != 0 {
		t.Errorf("Decode allocates %v times", n)
	}
}

// FuzzDecode guards the exit decoding of Intel SDM Vol. 3C, 28.2.1 "Basic
// VM-Exit Information" (exit qualifications) and 25.9.2 (interruption
// information): whatever the processor and guest put in the exit fields,
// Decode does not panic, keeps the raw record, reports an instruction
// length of 0 to 15 and an I/O size of 1, 2 or 4 bytes, and only decodes
// what the fields say.
func FuzzDecode(f *testing.F) {
	f.Add(uint32(EXIT_REASON_IO_INSTRUCTION), uint64(0x03f8_0000), uint32(1), uint32(0), uint32(0), uint64(0), uint64(0x41), uint64(0))
	f.Add(uint32(EXIT_REASON_EXCEPTION_NMI), uint64(0), uint32(0), uint32(0x8000_0b0e), uint32(2), uint64(0), uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, reason uint32, qual uint64, instrLen, intrInfo, intrErr uint32, gpa, rax, rcx uint64) {
		raw := hv.VMXExit{Reason: reason, Qualification: qual, InstrLen: instrLen, IntrInfo: intrInfo, IntrError: intrErr, GuestPhysical: gpa}
		var e hv.Exit
		Decode(raw, 0x1234, rax, rcx, &e)
		if e.Vendor != hv.VendorVMX || e.VMX != raw || e.RIP != 0x1234 {
			t.Fatalf("raw record lost: %+v", e)
		}
		if e.InstrLen < 0 || e.InstrLen > 15 || (e.InstrLen != 0 && uint32(e.InstrLen) != instrLen) {
			t.Fatalf("InstrLen %d from %d", e.InstrLen, instrLen)
		}
		if int(e.Reason) >= hv.NumExitReasons {
			t.Fatalf("reason %d", e.Reason)
		}
		if strings.HasPrefix(e.Reason.String(), "exit(") {
			t.Fatalf("reason %v has no name", e.Reason)
		}
		if reason&EXIT_REASON_ENTRY_FAILURE != 0 && e.Reason != hv.ExitInvalidState {
			t.Fatalf("entry failure %#x decoded as %v", reason, e.Reason)
		}
		if e.Reason == hv.ExitIO {
			io := e.IO
			if io.Size != 1 && io.Size != 2 && io.Size != 4 {
				t.Fatalf("I/O size %d", io.Size)
			}
			if io.Port != uint16(qual>>16) || io.Write != (qual&IO_QUAL_IN == 0) || io.String != (qual&IO_QUAL_STRING != 0) || io.Rep != (qual&IO_QUAL_REP != 0) {
				t.Fatalf("I/O %+v from %#x", io, qual)
			}
			if uint64(io.Value) >= 1<<(8*io.Size) || (io.Write && !io.String && uint64(io.Value) != rax&(1<<(8*io.Size)-1)) || ((!io.Write || io.String) && io.Value != 0) {
				t.Fatalf("I/O value %#x from rax %#x (%+v)", io.Value, rax, io)
			}
		} else if e.IO != (hv.IOExit{}) {
			t.Fatalf("I/O fields set for %v", e.Reason)
		}
		if e.Reason == hv.ExitMSR && e.MSR != uint32(rcx) {
			t.Fatalf("MSR %#x from rcx %#x", e.MSR, rcx)
		}
		if e.Reason == hv.ExitNPF && (e.GPA != hv.IPA(gpa) || e.Access&^(hv.AccessRead|hv.AccessWrite|hv.AccessExec) != 0) {
			t.Fatalf("NPF %+v", e)
		}
		if e.HasError && (e.Reason != hv.ExitException || intrInfo&INTR_INFO_ERROR_VALID == 0 || e.ErrorCode != intrErr) {
			t.Fatalf("error code %+v from info %#x", e, intrInfo)
		}
		if !e.HasError && e.ErrorCode != 0 {
			t.Fatalf("stale error code %+v", e)
		}
		if e.Reason == hv.ExitException && (intrInfo&INTR_INFO_VALID == 0 || e.Vector != uint8(intrInfo)) {
			t.Fatalf("exception %+v from info %#x", e, intrInfo)
		}
	})
}
