// hv/amd64/svm: AMD SVM support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package svm

import (
	"errors"
	"strings"
	"testing"
)

// cpuidTable answers CPUID from a map; absent leaves read as zero.
func cpuidTable(m map[uint32][4]uint32) CPUIDFunc {
	return func(leaf, _ uint32) (a, b, c, d uint32) {
		r := m[leaf]
		return r[0], r[1], r[2], r[3]
	}
}

func TestDetect(t *testing.T) {
	qemuTCG := map[uint32][4]uint32{
		// QEMU TCG -cpu max: SVM, NPT, no NRIPS, 16 ASIDs.
		CPUID_EXT_MAX:      {0x8000_0021, 0, 0, 0},
		CPUID_EXT_FEATURES: {0, 0, CPUID_EXT_FEATURES_ECX_SVM | 1, 0},
		CPUID_SVM_FEATURES: {1, 16, 0, SVM_FEATURE_NP | SVM_FEATURE_VGIF},
	}
	zen := map[uint32][4]uint32{
		// A Zen part: all the features, 32768 ASIDs.
		CPUID_EXT_MAX:      {0x8000_0028, 0, 0, 0},
		CPUID_EXT_FEATURES: {0, 0, CPUID_EXT_FEATURES_ECX_SVM, 0},
		CPUID_SVM_FEATURES: {1, 0x8000, 0, 0x1ebfbcff},
	}
	noNPT := map[uint32][4]uint32{
		CPUID_EXT_MAX:      {CPUID_SVM_FEATURES, 0, 0, 0},
		CPUID_EXT_FEATURES: {0, 0, CPUID_EXT_FEATURES_ECX_SVM, 0},
		CPUID_SVM_FEATURES: {1, 64, 0, SVM_FEATURE_NRIPS},
	}
	noLeafA := map[uint32][4]uint32{
		CPUID_EXT_MAX:      {CPUID_EXT_FEATURES, 0, 0, 0},
		CPUID_EXT_FEATURES: {0, 0, CPUID_EXT_FEATURES_ECX_SVM, 0},
		CPUID_SVM_FEATURES: {1, 64, 0, 0xffff_ffff}, // beyond the max: ignored
	}
	intel := map[uint32][4]uint32{
		CPUID_EXT_MAX:      {0x8000_0008, 0, 0, 0},
		CPUID_EXT_FEATURES: {0, 0, 0x121, 0},
	}
	ancient := map[uint32][4]uint32{
		CPUID_EXT_MAX:      {0x8000_0000, 0, 0, 0},
		CPUID_EXT_FEATURES: {0, 0, 0xffff_ffff, 0}, // beyond the max: ignored
	}
	for _, c := range []struct {
		name    string
		cpuid   map[uint32][4]uint32
		vmcr    uint64
		want    Features
		err     error
		errText string
	}{
		{"qemu tcg", qemuTCG, 0, Features{SVM: true, NPT: true, ASIDs: 16}, nil, ""},
		{"zen", zen, VM_CR_LOCK, Features{SVM: true, NPT: true, NRIPS: true, DecodeAssists: true, VMCBClean: true, FlushByASID: true, ASIDs: 0x8000}, nil, ""},
		{"bios disabled", zen, VM_CR_SVMDIS | VM_CR_LOCK, Features{}, ErrSVMDisabled, "vm_cr=0x18 lock=true"},
		{"no npt", noNPT, 0, Features{SVM: true, NRIPS: true, ASIDs: 64}, ErrNoNPT, "edx=0x8"},
		{"no leaf 0x8000000a", noLeafA, 0, Features{SVM: true}, ErrNoNPT, "leaf 0x8000000A missing"},
		{"intel", intel, 0, Features{}, ErrNoSVM, "ecx=0x121"},
		{"no extended leaves", ancient, 0, Features{}, ErrNoSVM, "max extended leaf 0x80000000, ecx=0x0"},
	} {
		f, err := Detect(cpuidTable(c.cpuid), c.vmcr)
		if f != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, f, c.want)
		}
		if c.err == nil && err != nil || c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.err)
		}
		if c.err != nil && (err == nil || !strings.Contains(err.Error(), c.errText)) {
			t.Errorf("%s: error %q lacks %q", c.name, err, c.errText)
		}
		if got := HasSVM(cpuidTable(c.cpuid)); got != (c.cpuid[CPUID_EXT_FEATURES][2]&4 != 0 && c.cpuid[CPUID_EXT_MAX][0] >= CPUID_EXT_FEATURES) {
			t.Errorf("%s: HasSVM %t", c.name, got)
		}
	}
}
