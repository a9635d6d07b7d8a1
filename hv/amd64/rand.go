// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

// CPUID.01H:ECX.RDRAND[bit 30] (SDM Vol. 2A, Table 3-10).
const INFO_ECX_RDRAND = 30

var (
	rngChecked, hasRDRAND bool
	mixState              uint64
)

// HasRDRAND reports whether the CPU implements RDRAND.
func HasRDRAND() bool {
	if !rngChecked {
		_, _, ecx, _ := cpuid(CPUID_INFO, 0)
		hasRDRAND = bit(ecx, INFO_ECX_RDRAND)
		rngChecked = true
	}
	return hasRDRAND
}

// RandomData fills b for runtime.getRandomData: RDRAND when present,
// otherwise a TSC-seeded SplitMix64 sequence, which is NOT
// cryptographically secure (RNGSource says which is in use).
//
//go:nosplit
func RandomData(b []byte) {
	for i := 0; i < len(b); i += 8 {
		var v uint64
		ok := false
		if HasRDRAND() {
			for try := 0; try < 16 && !ok; try++ {
				v, ok = rdrand()
			}
		}
		if !ok {
			if mixState == 0 {
				mixState = rdtsc() | 1
			}
			mixState += 0x9e3779b97f4a7c15
			z := mixState
			z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
			z = (z ^ z>>27) * 0x94d049bb133111eb
			v = z ^ z>>31
		}
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// RNGSource names the entropy source in use.
func RNGSource() string {
	if HasRDRAND() {
		return "RDRAND"
	}
	return "TSC-seeded SplitMix64 (not cryptographic)"
}
