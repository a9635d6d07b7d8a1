// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

// D19.2.61 ID_AA64ISAR0_EL1.RNDR, bits [63:60]: FEAT_RNG present.
const ID_AA64ISAR0_RNDR_SHIFT = 60

var (
	rngChecked bool
	hasRNDR    bool
	mixState   uint64
)

// HasRNDR reports whether the CPU implements the RNDR random number
// register.
func HasRNDR() bool {
	if !rngChecked {
		hasRNDR = read_id_aa64isar0()>>ID_AA64ISAR0_RNDR_SHIFT&0xf != 0
		rngChecked = true
	}
	return hasRNDR
}

// RandomData fills b for the Go runtime (runtime.getRandomData). It uses
// RNDR when the CPU has it. Otherwise it falls back to a SplitMix64
// sequence seeded from the physical counter, which is NOT
// cryptographically secure; the banner says which source is in use.
//
//go:nosplit
func RandomData(b []byte) {
	for i := 0; i < len(b); i += 8 {
		var v uint64
		ok := false
		if HasRNDR() {
			for try := 0; try < 16 && !ok; try++ {
				v, ok = read_rndr()
			}
		}
		if !ok {
			if mixState == 0 {
				mixState = read_cntpct() | 1
			}
			v = splitmix(&mixState)
		}
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// splitmix is SplitMix64 (Steele, Lea, Flood 2014).
//
//go:nosplit
func splitmix(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// RNGSource names the entropy source in use.
func RNGSource() string {
	if HasRNDR() {
		return "RNDR"
	}
	return "counter-seeded SplitMix64 (not cryptographic)"
}

// Halt masks interrupts and stops this CPU.
func Halt() { halt() }
