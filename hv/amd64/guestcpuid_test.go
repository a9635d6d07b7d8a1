// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

import (
	"math/rand/v2"
	"testing"
)

// CPUID 7.0 EBX bits the QEMU TCG table sets beyond the whitelist
// (Intel SDM Vol. 2A, Table 3-8): AVX2 5, INVPCID 10, CLWB 24.
const (
	f7EBX_AVX2    = 1 << 5
	f7EBX_INVPCID = 1 << 10
	f7EBX_CLWB    = 1 << 24
)

// tcgMaxLeaves resembles what QEMU's TCG accelerator reports for -cpu max
// on an x86 host: AuthenticAMD, SVM with nested paging (no NRIPS), AVX,
// XSAVE and MONITOR, but no x2APIC, no TSC-deadline timer and no
// hypervisor bit (the tests check tamavisor adds the last two itself).
var tcgMaxLeaves = map[uint32][4]uint32{
	CPUID_VENDOR: {0xd, le("Auth"), le("cAMD"), le("enti")},
	CPUID_INFO: {
		0x0080_0f12, // family 0x17
		0x0001_0800, // APIC ID 0, 1 logical CPU, CLFLUSH 8 qwords
		1<<0 | 1<<1 | // SSE3 PCLMULQDQ
			1<<INFO_ECX_MONITOR | 1<<9 | 1<<12 | 1<<13 | // MONITOR SSSE3 FMA CX16
			1<<19 | 1<<20 | 1<<22 | 1<<23 | 1<<25 | // SSE4.1 SSE4.2 MOVBE POPCNT AES
			1<<INFO_ECX_XSAVE | 1<<INFO_ECX_AVX | 1<<29 | 1<<30, // XSAVE AVX F16C RDRAND
		0x078b_fbff, // FPU .. SSE2, MCE, MTRR, MCA; no HTT
	},
	2: {1, 0, 0, 0x002c_307d},
	4: {0x121, 0x01c0_003f, 0x3f, 0},
	6: {1 << 2, 0, 0, 0}, // ARAT
	CPUID_FEATURES7: {1, // max subleaf
		1<<0 | 1<<3 | f7EBX_AVX2 | 1<<7 | 1<<8 | 1<<9 | f7EBX_INVPCID | 1<<19 | 1<<20 | 1<<23 | f7EBX_CLWB | 1<<29,
		1<<2 | 1<<3 | 1<<16 | 1<<22, // UMIP PKU LA57 RDPID
		1 << 4,                      // FSRM
	},
	0xb:           {0, 1, 0x100, 0},
	CPUID_XSAVE:   {7, 0x240, 0x340, 0},
	0x4000_0000:   {0x4000_0001, le("TCGT"), le("CGTC"), le("GTCG")}, // never reached: tamavisor owns the range
	CPUID_EXT_MAX: {0x8000_001f, le("Auth"), le("cAMD"), le("enti")},
	CPUID_EXT_INFO: {0x0080_0f12, 0,
		1<<0 | 1<<EXT_INFO_ECX_SVM | 1<<5 | 1<<6 | 1<<7 | 1<<8, // LAHF SVM ABM SSE4A MISALIGNSSE 3DNOWPREFETCH
		1<<11 | 1<<20 | 1<<25 | 1<<26 | 1<<27 | 1<<29,          // SYSCALL NX FFXSR PDPE1GB RDTSCP LM
	},
	CPUID_BRAND_0:     {le("QEMU"), le(" TCG"), le(" CPU"), le(" ver")},
	CPUID_BRAND_0 + 1: {le("sion"), le(" 2.5"), le("+\x00\x00\x00"), 0},
	CPUID_BRAND_2:     {0, 0, 0, 0},
	0x8000_0005:       {0x01ff_01ff, 0x01ff_01ff, 0x4002_0140, 0x4002_0140},
	0x8000_0006:       {0, 0x4200_4200, 0x0200_6140, 0x0080_8140},
	CPUID_EXT_APM:     {0, 0, 0, 1<<8 | 1<<9 | 1<<1}, // invariant TSC, CPB, TTP
	CPUID_EXT_ADDRSIZES: {0x0000_3028, // 40-bit physical, 48-bit virtual
		1<<0 | 1<<9 | 1<<12, // CLZERO WBNOINVD IBPB
		0x0000_0001, 0},
	CPUID_SVM:   {1, 16, 0, 1 << SVM_EDX_NP},
	0x8000_001f: {0x1, 0x2f, 0, 0},
}

// qemuTCGMax is tcgMaxLeaves as a CPUIDFunc; leaf 7 subleaf 1 has its
// own value (AVX-VNNI), every other subleaf reads as subleaf 0.
func qemuTCGMax(leaf, subleaf uint32) (a, b, c, d uint32) {
	if leaf == CPUID_FEATURES7 && subleaf == 1 {
		return 1 << 4, 0, 0, 0
	}
	r := tcgMaxLeaves[leaf]
	return r[0], r[1], r[2], r[3]
}

// allOnes is a host that sets every bit of every leaf, up to the given
// maxima.
func allOnes(maxStd, maxExt uint32) CPUIDFunc {
	return func(leaf, _ uint32) (a, b, c, d uint32) {
		switch leaf {
		case CPUID_VENDOR:
			return maxStd, ^uint32(0), ^uint32(0), ^uint32(0)
		case CPUID_EXT_MAX:
			return maxExt, ^uint32(0), ^uint32(0), ^uint32(0)
		}
		return ^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0)
	}
}

// Bits GuestCPUID must clear from CPUID 1 (Intel SDM Vol. 2A Table 3-10,
// 3-11): what tamavisor does not virtualise.
const (
	leaf1ECXHidden = 1<<INFO_ECX_DTES64 | 1<<INFO_ECX_MONITOR | 1<<INFO_ECX_DSCPL | 1<<INFO_ECX_VMX |
		1<<INFO_ECX_SMX | 1<<INFO_ECX_EST | 1<<INFO_ECX_TM2 | 1<<INFO_ECX_PDCM |
		1<<INFO_ECX_DEADLINE | 1<<INFO_ECX_XSAVE | 1<<INFO_ECX_OSXSAVE | 1<<INFO_ECX_AVX
	leaf1EDXHidden = 1<<INFO_EDX_MCE | 1<<INFO_EDX_MTRR | 1<<INFO_EDX_MCA | 1<<INFO_EDX_ACPI |
		1<<INFO_EDX_TM | 1<<INFO_EDX_PBE
)

func TestGuestCPUIDTable(t *testing.T) {
	const tscHz = 2_500_000_000
	tcg := CPUIDFunc(qemuTCGMax)
	ones := allOnes(0x1f, 0x8000_0021)
	r := func(a, b, c, d uint32) [4]uint32 { return [4]uint32{a, b, c, d} }
	for _, c := range []struct {
		name          string
		host          CPUIDFunc
		leaf, subleaf uint32
		vcpu, n       int
		want          [4]uint32
	}{
		// Leaf 0: vendor kept, maximum capped at the XSAVE leaf.
		{"vendor", tcg, CPUID_VENDOR, 0, 0, 1, r(CPUID_XSAVE, le("Auth"), le("cAMD"), le("enti"))},
		{"vendor max capped", ones, CPUID_VENDOR, 0, 0, 1, r(CPUID_XSAVE, ^uint32(0), ^uint32(0), ^uint32(0))},
		// Leaf 1 on TCG: MONITOR, XSAVE and AVX hidden, x2APIC and the
		// hypervisor bit added; EBX carries vCPU 2 of 4 and the CLFLUSH size.
		{"info tcg", tcg, CPUID_INFO, 0, 2, 4, r(0x0080_0f12, 0x0204_0800,
			tcgMaxLeaves[CPUID_INFO][2]&^(1<<INFO_ECX_MONITOR|1<<INFO_ECX_XSAVE|1<<INFO_ECX_AVX)|1<<INFO_ECX_X2APIC|1<<INFO_ECX_HV,
			0x078b_fbff&^(1<<INFO_EDX_MCE|1<<INFO_EDX_MTRR|1<<INFO_EDX_MCA))},
		// Leaf 1 with every host bit set: VMX, TSC-deadline and the rest
		// hidden; the host's APIC ID and count replaced.
		{"info all ones", ones, CPUID_INFO, 0, 7, 8, r(^uint32(0), 0x0708_ffff, ^uint32(leaf1ECXHidden), ^uint32(leaf1EDXHidden))},
		// Leaf 7.0: EBX whitelist only; AVX2, INVPCID, CLWB, and all of
		// ECX/EDX (PKU, LA57, ...) dropped; max subleaf 0.
		{"features7 tcg", tcg, CPUID_FEATURES7, 0, 0, 1, r(0,
			tcgMaxLeaves[CPUID_FEATURES7][1]&^(f7EBX_AVX2|f7EBX_INVPCID|f7EBX_CLWB), 0, 0)},
		{"features7 all ones", ones, CPUID_FEATURES7, 0, 0, 1, r(0, features7EBXAllowed, 0, 0)},
		{"features7 subleaf 1", tcg, CPUID_FEATURES7, 1, 0, 1, r(0, 0, 0, 0)},
		// Cache descriptors pass through.
		{"leaf 2", tcg, 2, 0, 0, 1, tcgMaxLeaves[2]},
		{"leaf 4", tcg, 4, 0, 0, 1, tcgMaxLeaves[4]},
		// Hidden leaves read as zeros.
		{"leaf 3", ones, 3, 0, 0, 1, r(0, 0, 0, 0)},
		{"leaf 5 monitor", ones, 5, 0, 0, 1, r(0, 0, 0, 0)},
		{"leaf 6 thermal", tcg, 6, 0, 0, 1, r(0, 0, 0, 0)},
		{"leaf 8", ones, 8, 0, 0, 1, r(0, 0, 0, 0)},
		{"leaf 0xa pmu", ones, 0xa, 0, 0, 1, r(0, 0, 0, 0)},
		{"leaf 0xb topology", tcg, 0xb, 0, 0, 1, r(0, 0, 0, 0)},
		{"leaf 0xd xsave", tcg, CPUID_XSAVE, 0, 0, 1, r(0, 0, 0, 0)},
		{"leaf 0xd.1 xsave", ones, CPUID_XSAVE, 1, 0, 1, r(0, 0, 0, 0)},
		{"leaf 0x14 trace", ones, 0x14, 0, 0, 1, r(0, 0, 0, 0)},
		{"leaf 0x1f topology", ones, 0x1f, 0, 0, 1, r(0, 0, 0, 0)},
		// Hypervisor leaves: ours, whatever the host says there.
		{"hv base", tcg, CPUID_HV_BASE, 0, 0, 1, r(CPUID_HV_LAST, le("Tama"), le("viso"), le("rHV "))},
		{"hv version", ones, CPUID_HV_VERSION, 0, 0, 1, r(1<<16, 0, 0, 0)},
		{"hv timing", tcg, CPUID_HV_TIMING, 0, 0, 1, r(2_500_000, 1_000_000, 0, 0)},
		{"hv unused", ones, 0x4000_0002, 0, 0, 1, r(0, 0, 0, 0)},
		{"hv range end", ones, 0x4000_ffff, 0, 0, 1, r(0, 0, 0, 0)},
		// Extended leaves.
		{"ext max", tcg, CPUID_EXT_MAX, 0, 0, 1, r(CPUID_EXT_ADDRSIZES, le("Auth"), le("cAMD"), le("enti"))},
		{"ext info svm hidden", tcg, CPUID_EXT_INFO, 0, 0, 1, r(0x0080_0f12, 0,
			tcgMaxLeaves[CPUID_EXT_INFO][2]&^(1<<EXT_INFO_ECX_SVM), tcgMaxLeaves[CPUID_EXT_INFO][3]&^extEDXHidden)},
		{"ext info all ones", ones, CPUID_EXT_INFO, 0, 0, 1, r(^uint32(0), ^uint32(0), ^uint32(extECXHidden), ^uint32(extEDXHidden))},
		{"brand", tcg, CPUID_BRAND_0, 0, 0, 1, tcgMaxLeaves[CPUID_BRAND_0]},
		{"l1 cache", tcg, 0x8000_0005, 0, 0, 1, tcgMaxLeaves[0x8000_0005]},
		{"apm", tcg, CPUID_EXT_APM, 0, 0, 1, r(0, 0, 0, 1<<8)},
		{"addr sizes", tcg, CPUID_EXT_ADDRSIZES, 0, 0, 1, r(0x3028, 0, 0, 0)},
		{"addr sizes all ones", ones, CPUID_EXT_ADDRSIZES, 0, 0, 1, r(0xffff, 0, 0, 0)},
		{"svm leaf hidden", tcg, CPUID_SVM, 0, 0, 1, r(0, 0, 0, 0)},
		{"sev leaf hidden", tcg, 0x8000_001f, 0, 0, 1, r(0, 0, 0, 0)},
		{"centaur range", ones, 0xc000_0000, 0, 0, 1, r(0, 0, 0, 0)},
		{"between hv and ext", ones, 0x4001_0000, 0, 0, 1, r(0, 0, 0, 0)},
	} {
		a, b, cc, d := GuestCPUID(c.host, c.leaf, c.subleaf, c.vcpu, c.n, tscHz)
		if got := r(a, b, cc, d); got != c.want {
			t.Errorf("%s: leaf %#x.%d = %#x, want %#x", c.name, c.leaf, c.subleaf, got, c.want)
		}
	}
}

// TestGuestCPUIDAboveHostMaximum: leaves beyond the host's reported
// maxima are undefined on hardware; the guest gets zeros, not whatever
// the host returns there.
func TestGuestCPUIDAboveHostMaximum(t *testing.T) {
	garbage := [4]uint32{0xdead_beef, 0xdead_beef, 0xdead_beef, 0xdead_beef}
	host := cpuidTable(map[uint32][4]uint32{
		CPUID_VENDOR:        {5, le("Genu"), le("ntel"), le("ineI")},
		CPUID_INFO:          {0x806f1, 0, 0, 0},
		CPUID_FEATURES7:     garbage, // above the standard maximum 5
		4:                   {0x121, 0, 0, 0},
		CPUID_EXT_MAX:       {CPUID_BRAND_2, 0, 0, 0},
		CPUID_EXT_APM:       garbage, // above the extended maximum
		CPUID_EXT_ADDRSIZES: garbage,
	})
	for _, leaf := range []uint32{6, CPUID_FEATURES7, CPUID_XSAVE, CPUID_EXT_APM, CPUID_EXT_ADDRSIZES, 0xffff_ffff} {
		if a, b, c, d := GuestCPUID(host, leaf, 0, 0, 1, 1e9); a|b|c|d != 0 {
			t.Errorf("leaf %#x above the host maximum = %#x %#x %#x %#x, want zeros", leaf, a, b, c, d)
		}
	}
	// Within the maxima, leaves still pass through.
	if a, _, _, _ := GuestCPUID(host, 4, 0, 0, 1, 1e9); a != 0x121 {
		t.Errorf("leaf 4 = %#x", a)
	}
	if a, _, _, _ := GuestCPUID(host, CPUID_VENDOR, 0, 0, 1, 1e9); a != 5 {
		t.Errorf("leaf 0 max = %#x, want the host's 5", a)
	}
	if a, _, _, _ := GuestCPUID(host, CPUID_EXT_MAX, 0, 0, 1, 1e9); a != CPUID_BRAND_2 {
		t.Errorf("leaf 0x80000000 max = %#x, want the host's", a)
	}
	// A host without extended leaves (max below 0x80000000).
	none := cpuidTable(map[uint32][4]uint32{CPUID_VENDOR: {1, 0, 0, 0}, CPUID_EXT_INFO: garbage})
	if a, b, c, d := GuestCPUID(none, CPUID_EXT_INFO, 0, 0, 1, 1e9); a|b|c|d != 0 {
		t.Errorf("ext leaf on a host without extended leaves = %#x %#x %#x %#x", a, b, c, d)
	}
}

// checkNoVirtualisation fails if a CPUID result shows the guest VMX
// (CPUID 1 ECX[5]), SVM (CPUID 0x80000001 ECX[2]) or the SVM feature
// leaf, or lacks the hypervisor bit.
func checkNoVirtualisation(t *testing.T, leaf, subleaf uint32, a, b, c, d uint32) {
	t.Helper()
	switch leaf {
	case CPUID_INFO:
		if c&(1<<INFO_ECX_VMX) != 0 {
			t.Fatalf("leaf 1.%d exposes VMX: ecx %#x", subleaf, c)
		}
		if c&(1<<INFO_ECX_HV) == 0 && a|b|c|d != 0 {
			t.Fatalf("leaf 1.%d lacks the hypervisor bit: ecx %#x", subleaf, c)
		}
	case CPUID_EXT_INFO:
		if c&(1<<EXT_INFO_ECX_SVM) != 0 {
			t.Fatalf("leaf 0x80000001.%d exposes SVM: ecx %#x", subleaf, c)
		}
	case CPUID_SVM:
		if a|b|c|d != 0 {
			t.Fatalf("leaf 0x8000000a.%d exposes SVM features: %#x %#x %#x %#x", subleaf, a, b, c, d)
		}
	}
}

// randomHost answers every CPUID with random registers (maxima included).
func randomHost(rng *rand.Rand) CPUIDFunc {
	return func(leaf, subleaf uint32) (a, b, c, d uint32) {
		return rng.Uint32(), rng.Uint32(), rng.Uint32(), rng.Uint32()
	}
}

// TestGuestCPUIDRandomLeaves: whatever the host and the leaf, GuestCPUID
// neither panics nor shows the guest VMX or SVM.
func TestGuestCPUIDRandomLeaves(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	hosts := []CPUIDFunc{qemuTCGMax, allOnes(^uint32(0), ^uint32(0)), allOnes(0x1f, 0x8000_0021), randomHost(rng)}
	interesting := []uint32{0, 1, 7, 0xd, CPUID_HV_BASE, CPUID_HV_TIMING, CPUID_EXT_MAX, CPUID_EXT_INFO, CPUID_SVM, 0xffff_ffff}
	for i := 0; i < 200_000; i++ {
		var leaf uint32
		switch rng.IntN(3) {
		case 0:
			leaf = rng.Uint32()
		case 1:
			leaf = interesting[rng.IntN(len(interesting))]
		default:
			leaf = []uint32{0, CPUID_HV_BASE, CPUID_EXT_MAX}[rng.IntN(3)] + uint32(rng.IntN(0x40))
		}
		subleaf := rng.Uint32()
		if rng.IntN(2) == 0 {
			subleaf = uint32(rng.IntN(3))
		}
		host := hosts[rng.IntN(len(hosts))]
		a, b, c, d := GuestCPUID(host, leaf, subleaf, rng.IntN(300), rng.IntN(300), rng.Uint64())
		checkNoVirtualisation(t, leaf, subleaf, a, b, c, d)
	}
}

// FuzzGuestCPUIDHidesVMXAndSVM guards Intel SDM Vol. 2A CPUID leaf 1
// ECX[5] (VMX) and AMD APM Vol. 3 Appendix E.4.2 CPUID 0x80000001
// ECX[2] (SVM): a guest never sees either, whatever the host returns.
func FuzzGuestCPUIDHidesVMXAndSVM(f *testing.F) {
	f.Add(uint32(1), uint32(0), uint64(0), uint64(1e9))
	f.Add(uint32(CPUID_EXT_INFO), uint32(0), uint64(1), uint64(0))
	f.Add(uint32(CPUID_SVM), uint32(0), uint64(2), uint64(^uint64(0)))
	f.Fuzz(func(t *testing.T, leaf, subleaf uint32, seed, tscHz uint64) {
		rng := rand.New(rand.NewPCG(seed, seed>>1))
		a, b, c, d := GuestCPUID(randomHost(rng), leaf, subleaf, int(seed%256), int(seed>>8%256), tscHz)
		checkNoVirtualisation(t, leaf, subleaf, a, b, c, d)
	})
}

// TestGuestCPUIDExtInfoMatchesWhatRuns: CPUID 0x80000001 EDX is passed
// through whole. It shows RDTSCP (bit 27), which QEMU TCG -cpu max
// reports, although the guest cannot use it: the SVM backend keeps no
// TSC_AUX (WRMSR 0xc0000103 raises #GP) and RDTSCP, not intercepted,
// returns the host's TSC_AUX; svm.Decode maps an intercepted RDTSCP to
// ExitOther (#UD) "when the CPUID tamavisor shows lacks" it. On AMD the
// leaf also mirrors leaf 1 EDX MCE (7), MTRR (12) and MCA (14) (APM
// Vol. 3 E.4.2), which leaf 1 hides.
func TestGuestCPUIDExtInfoMatchesWhatRuns(t *testing.T) {
	const rdtscp = 27
	_, _, _, d := GuestCPUID(qemuTCGMax, CPUID_EXT_INFO, 0, 0, 1, 1e9)
	if d&(1<<rdtscp) != 0 {
		t.Errorf("0x80000001 EDX %#x shows RDTSCP", d)
	}
	if d&(1<<INFO_EDX_MCE|1<<INFO_EDX_MTRR|1<<INFO_EDX_MCA) != 0 {
		t.Errorf("0x80000001 EDX %#x shows MCE/MTRR/MCA hidden in leaf 1", d)
	}
}
