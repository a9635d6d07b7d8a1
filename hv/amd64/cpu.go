// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import (
	"math"
	"math/bits"
)

// CPUID leaves and bits (Intel SDM Vol. 2A CPUID; AMD APM Vol. 3
// Appendix E "Obtaining Processor Information Via the CPUID Instruction").
const (
	CPUID_VENDOR = 0x0000_0000
	CPUID_INFO   = 0x0000_0001
	INFO_ECX_VMX = 5  // Intel VT-x
	INFO_ECX_HV  = 31 // running under a hypervisor

	CPUID_EXT_MAX    = 0x8000_0000
	CPUID_EXT_INFO   = 0x8000_0001
	EXT_INFO_ECX_SVM = 2 // AMD-V
	CPUID_SVM        = 0x8000_000a
	SVM_EDX_NP       = 0 // nested paging
	SVM_EDX_NRIPS    = 3 // next-RIP save on #VMEXIT
	CPUID_BRAND_0    = 0x8000_0002
	CPUID_BRAND_2    = 0x8000_0004
)

// Features are the CPU capabilities tamavisor reports and, later, uses.
type Features struct {
	Vendor string
	Brand  string
	// SVM: AMD-V (CPUID 0x80000001 ECX[2]).
	SVM bool
	// NPT: SVM nested paging (CPUID 0x8000000A EDX[0]).
	NPT bool
	// NRIPS: next-RIP saved on #VMEXIT (CPUID 0x8000000A EDX[3]).
	NRIPS bool
	// ASIDs: number of SVM address space IDs (CPUID 0x8000000A EBX).
	ASIDs uint32
	// VMX: Intel VT-x (CPUID 1 ECX[5]).
	VMX bool
	// Hypervisor: CPUID 1 ECX[31], set when running as a guest.
	Hypervisor bool
}

// CPUIDFunc executes CPUID; a parameter so host tests can supply tables.
type CPUIDFunc func(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

func bit(v uint32, n int) bool { return v>>n&1 == 1 }

func regString(regs ...uint32) string {
	b := make([]byte, 0, 4*len(regs))
	for _, r := range regs {
		b = append(b, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
	}
	for len(b) > 0 && (b[len(b)-1] == 0 || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	return string(b)
}

// DetectFeatures decodes the CPUID leaves tamavisor cares about. Leaves
// above the reported maximum are not read: their contents are undefined.
func DetectFeatures(cpuid CPUIDFunc) Features {
	var f Features
	maxLeaf, b, c, d := cpuid(CPUID_VENDOR, 0)
	f.Vendor = regString(b, d, c)
	if maxLeaf >= CPUID_INFO {
		_, _, ecx, _ := cpuid(CPUID_INFO, 0)
		f.VMX = bit(ecx, INFO_ECX_VMX)
		f.Hypervisor = bit(ecx, INFO_ECX_HV)
	}
	maxExt, _, _, _ := cpuid(CPUID_EXT_MAX, 0)
	if maxExt >= CPUID_EXT_INFO {
		_, _, ecx, _ := cpuid(CPUID_EXT_INFO, 0)
		f.SVM = bit(ecx, EXT_INFO_ECX_SVM)
	}
	if f.SVM && maxExt >= CPUID_SVM {
		_, ebx, _, edx := cpuid(CPUID_SVM, 0)
		f.NPT = bit(edx, SVM_EDX_NP)
		f.NRIPS = bit(edx, SVM_EDX_NRIPS)
		f.ASIDs = ebx
	}
	if maxExt >= CPUID_BRAND_2 {
		var regs []uint32
		for l := uint32(CPUID_BRAND_0); l <= CPUID_BRAND_2; l++ {
			a, b, c, d := cpuid(l, 0)
			regs = append(regs, a, b, c, d)
		}
		f.Brand = regString(regs...)
	}
	return f
}

// Clock turns TSC readings into nanoseconds. Until Calibrate is called it
// assumes 1 GHz; calibrating keeps the clock continuous and monotonic
// (the Go runtime reads time before the board can calibrate).
type Clock struct {
	hz   uint64
	base int64
	tsc0 uint64
}

// Nanos converts a TSC value to nanoseconds since TSC 0 (or since the
// calibration point, offset to stay continuous).
//
//go:nosplit
func (c *Clock) Nanos(tsc uint64) int64 {
	if c.hz == 0 {
		return int64(tsc &^ (1 << 63))
	}
	return c.base + ticksToNs(tsc-c.tsc0, c.hz)
}

// Calibrate switches to frequency hz at TSC value now.
func (c *Clock) Calibrate(now, hz uint64) {
	c.base = c.Nanos(now)
	c.tsc0 = now
	c.hz = hz
}

// Hz returns the calibrated frequency, 0 before calibration.
func (c *Clock) Hz() uint64 { return c.hz }

//go:nosplit
func ticksToNs(ticks, hz uint64) int64 {
	hi, lo := bits.Mul64(ticks, 1e9)
	if hi >= hz {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, hz)
	return int64(q)
}
