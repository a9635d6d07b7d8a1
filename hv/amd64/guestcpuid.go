// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

// The CPUID a guest sees: the host's, with what tamavisor does not
// virtualise taken out and its own leaves added. Intel SDM Vol. 2A
// "CPUID"; AMD APM Vol. 3 Appendix E.
const (
	CPUID_FEATURES7     = 0x0000_0007
	CPUID_XSAVE         = 0x0000_000d
	CPUID_HV_BASE       = 0x4000_0000 // hypervisor leaves (vendor signature)
	CPUID_HV_VERSION    = 0x4000_0001
	CPUID_HV_TIMING     = 0x4000_0010 // EAX TSC kHz, EBX APIC timer kHz
	CPUID_HV_LAST       = CPUID_HV_TIMING
	CPUID_EXT_APM       = 0x8000_0007
	CPUID_EXT_ADDRSIZES = 0x8000_0008

	// CPUID 1 ECX.
	INFO_ECX_DTES64   = 2
	INFO_ECX_MONITOR  = 3
	INFO_ECX_DSCPL    = 4
	INFO_ECX_SMX      = 6
	INFO_ECX_EST      = 7
	INFO_ECX_TM2      = 8
	INFO_ECX_PDCM     = 15
	INFO_ECX_X2APIC   = 21
	INFO_ECX_DEADLINE = 24
	INFO_ECX_XSAVE    = 26
	INFO_ECX_OSXSAVE  = 27
	INFO_ECX_AVX      = 28
	// CPUID 1 EDX.
	INFO_EDX_MCE  = 7
	INFO_EDX_MTRR = 12
	INFO_EDX_MCA  = 14
	INFO_EDX_ACPI = 22
	INFO_EDX_TM   = 29
	INFO_EDX_PBE  = 31

	// CPUID 7.0 EBX features passed through (no state the hypervisor
	// would have to switch): FSGSBASE 0, BMI1 3, SMEP 7, BMI2 8, ERMS 9,
	// ADX 19, SMAP 20, CLFLUSHOPT 23, SHA 29.
	features7EBXAllowed = 1<<0 | 1<<3 | 1<<7 | 1<<8 | 1<<9 | 1<<19 | 1<<20 | 1<<23 | 1<<29

	// CPUID 0x80000001 ECX bits hidden: SVM 2, OSVW 9, IBS 10, SKINIT
	// 12, WDT 13, LWP 15, TCE 17, TOPOEXT 22, PERFCTR_CORE 23,
	// PERFCTR_NB 24, PERFCTR_LLC 28, MWAITX 29 (their MSRs fault).
	extECXHidden = 1<<2 | 1<<9 | 1<<10 | 1<<12 | 1<<13 | 1<<15 | 1<<17 | 1<<22 | 1<<23 |
		1<<24 | 1<<28 | 1<<29
	// CPUID 0x80000001 EDX bits hidden: the mirrors of leaf 1's MCE 7,
	// MTRR 12 and MCA 14 (APM Vol. 3 E.4.2), and RDTSCP 27 (no TSC_AUX
	// is kept for the guest; the instruction is intercepted as #UD).
	extEDXHidden = 1<<INFO_EDX_MCE | 1<<INFO_EDX_MTRR | 1<<INFO_EDX_MCA | 1<<27
	// CPUID 0x80000007 EDX: only the invariant TSC (bit 8) is shown.
	apmEDXAllowed = 1 << 8
)

// HVSignature is the 12-byte vendor signature at leaf 0x40000000
// (EBX, ECX, EDX).
const HVSignature = "TamavisorHV "

// GuestCPUID returns CPUID leaf/subleaf as vCPU vcpu of an n-vCPU VM sees
// it. host executes the real instruction; tscHz is the host TSC rate,
// which guests read from leaf 0x40000010 since TCG and many CPUs do not
// enumerate it.
func GuestCPUID(host CPUIDFunc, leaf, subleaf uint32, vcpu, n int, tscHz uint64) (a, b, c, d uint32) {
	switch {
	case leaf >= CPUID_HV_BASE && leaf <= 0x4000_ffff:
		return hvLeaf(leaf, tscHz)
	case leaf >= CPUID_EXT_MAX:
		maxExt, _, _, _ := host(CPUID_EXT_MAX, 0)
		if leaf > maxExt {
			return 0, 0, 0, 0
		}
		return extLeaf(host, leaf, subleaf)
	}
	maxLeaf, _, _, _ := host(CPUID_VENDOR, 0)
	if leaf > maxLeaf {
		return 0, 0, 0, 0
	}
	a, b, c, d = host(leaf, subleaf)
	switch leaf {
	case CPUID_VENDOR:
		// Leaves beyond 0xd describe caches, topology and trace state
		// the guest does not get.
		if a > CPUID_XSAVE {
			a = CPUID_XSAVE
		}
	case CPUID_INFO:
		// EBX: initial APIC ID (31:24), logical processors (23:16).
		b = b&0xffff | uint32(vcpu&0xff)<<24 | uint32(n&0xff)<<16
		c &^= 1<<INFO_ECX_DTES64 | 1<<INFO_ECX_MONITOR | 1<<INFO_ECX_DSCPL | 1<<INFO_ECX_VMX |
			1<<INFO_ECX_SMX | 1<<INFO_ECX_EST | 1<<INFO_ECX_TM2 | 1<<INFO_ECX_PDCM |
			1<<INFO_ECX_DEADLINE | 1<<INFO_ECX_XSAVE | 1<<INFO_ECX_OSXSAVE | 1<<INFO_ECX_AVX
		c |= 1<<INFO_ECX_X2APIC | 1<<INFO_ECX_HV
		d &^= 1<<INFO_EDX_MCE | 1<<INFO_EDX_MTRR | 1<<INFO_EDX_MCA | 1<<INFO_EDX_ACPI |
			1<<INFO_EDX_TM | 1<<INFO_EDX_PBE
	case CPUID_FEATURES7:
		if subleaf != 0 {
			return 0, 0, 0, 0
		}
		return 0, b & features7EBXAllowed, 0, 0
	case 2, 4:
		// Cache descriptors: harmless, passed through.
	case 3, 5, 6, 0xa, 0xb, CPUID_XSAVE:
		// Serial number, MONITOR, thermal/power, PMU, topology, XSAVE:
		// not offered.
		return 0, 0, 0, 0
	default:
		if leaf > 7 {
			return 0, 0, 0, 0
		}
	}
	return a, b, c, d
}

func hvLeaf(leaf uint32, tscHz uint64) (a, b, c, d uint32) {
	switch leaf {
	case CPUID_HV_BASE:
		s := HVSignature
		w := func(i int) uint32 {
			return uint32(s[i]) | uint32(s[i+1])<<8 | uint32(s[i+2])<<16 | uint32(s[i+3])<<24
		}
		return CPUID_HV_LAST, w(0), w(4), w(8)
	case CPUID_HV_VERSION:
		// The hypercall ABI version (hv/vmm HC_VERSION).
		return 1 << 16, 0, 0, 0
	case CPUID_HV_TIMING:
		return uint32(tscHz / 1000), APICTimerHz / 1000, 0, 0
	}
	return 0, 0, 0, 0
}

func extLeaf(host CPUIDFunc, leaf, subleaf uint32) (a, b, c, d uint32) {
	a, b, c, d = host(leaf, subleaf)
	switch leaf {
	case CPUID_EXT_MAX:
		if a > CPUID_EXT_ADDRSIZES {
			a = CPUID_EXT_ADDRSIZES
		}
	case CPUID_EXT_INFO:
		c &^= extECXHidden
		d &^= extEDXHidden
	case CPUID_BRAND_0, CPUID_BRAND_0 + 1, CPUID_BRAND_2, 0x8000_0005, 0x8000_0006:
		// Brand string and cache information.
	case CPUID_EXT_APM:
		return 0, 0, 0, d & apmEDXAllowed
	case CPUID_EXT_ADDRSIZES:
		// Address sizes only (EAX); EBX/ECX carry features and core
		// counts the guest does not get.
		return a & 0xffff, 0, 0, 0
	default:
		return 0, 0, 0, 0
	}
	return a, b, c, d
}
