// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import "testing"

// cpuidTable answers CPUID from a map; absent leaves read as zero.
func cpuidTable(m map[uint32][4]uint32) CPUIDFunc {
	return func(leaf, _ uint32) (a, b, c, d uint32) {
		r := m[leaf]
		return r[0], r[1], r[2], r[3]
	}
}

func le(s string) uint32 { return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24 }

func TestDetectFeaturesQEMUTCGMax(t *testing.T) {
	// What QEMU 7.2 TCG -cpu max reports: AuthenticAMD, SVM with NPT,
	// no NRIPS, 16 ASIDs, no VMX.
	f := DetectFeatures(cpuidTable(map[uint32][4]uint32{
		CPUID_VENDOR:   {0xd, le("Auth"), le("cAMD"), le("enti")},
		CPUID_INFO:     {0, 0, 1 << 30, 0},
		CPUID_EXT_MAX:  {CPUID_SVM, 0, 0, 0},
		CPUID_EXT_INFO: {0, 0, 1 << EXT_INFO_ECX_SVM, 0},
		CPUID_SVM:      {1, 16, 0, 1 << SVM_EDX_NP},
		CPUID_BRAND_0:  {le("QEMU"), le(" TCG"), 0, 0},
	}))
	want := Features{Vendor: "AuthenticAMD", Brand: "QEMU TCG", SVM: true, NPT: true, ASIDs: 16}
	if f != want {
		t.Fatalf("got %+v\nwant %+v", f, want)
	}
}

func TestDetectFeaturesIntelVMXAndLimits(t *testing.T) {
	// An Intel CPU with VMX; SVM leaves beyond the extended maximum must
	// not be consulted even if they hold garbage.
	f := DetectFeatures(cpuidTable(map[uint32][4]uint32{
		CPUID_VENDOR:   {0x16, le("Genu"), le("ntel"), le("ineI")},
		CPUID_INFO:     {0, 0, 1<<INFO_ECX_VMX | 1<<INFO_ECX_HV, 0},
		CPUID_EXT_MAX:  {CPUID_EXT_INFO, 0, 0, 0},
		CPUID_EXT_INFO: {0, 0, 0, 0},
		CPUID_SVM:      {0xff, 0xff, 0xff, 0xff},
	}))
	if f.Vendor != "GenuineIntel" || !f.VMX || !f.Hypervisor || f.SVM || f.NPT || f.Brand != "" {
		t.Fatalf("got %+v", f)
	}
}

func TestIDTGate(t *testing.T) {
	// SDM Vol. 3A Figure 6-8: offset split 15:0 / 31:16 / 63:32,
	// selector in bits 31:16, type/attributes in bits 47:40.
	g := IDTGate(0x1122_3344_5566_7788, CODE_SELECTOR)
	if g[0] != 0x5566_8e00_0008_7788 || g[1] != 0x1122_3344 {
		t.Fatalf("gate = %#x %#x", g[0], g[1])
	}
	if ExceptionName(14) != "#PF page fault" || ExceptionName(31) != "reserved" || ExceptionName(32) != "external interrupt" {
		t.Error("exception names")
	}
}

func TestClockStaysContinuousAcrossCalibration(t *testing.T) {
	var c Clock
	before := c.Nanos(5_000) // uncalibrated: 1 tick = 1 ns
	c.Calibrate(6_000, 2_000_000_000)
	if at := c.Nanos(6_000); at != 6_000 || at < before {
		t.Fatalf("at calibration %d (before %d)", at, before)
	}
	// 2 GHz: 2000 ticks later is 1000 ns later.
	if got := c.Nanos(8_000); got != 7_000 {
		t.Fatalf("after calibration %d, want 7000", got)
	}
	if c.Hz() != 2_000_000_000 {
		t.Error("Hz")
	}
}
