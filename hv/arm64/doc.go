// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

// Package arm64 is tamavisor's CPU plumbing for ARMv8-A at EL2: the
// cpuinit entry (build tag linkcpuinit) that drops from EL3 when needed,
// the EL2 exception vectors, the EL2 stage-1 MMU, the generic timer, SMC
// calls (PSCI) and the GICv3 CPU interface.
//
// TamaGo's own arm64 package only supports EL3, so tamavisor does not
// import it: this package provides runtime.hwinit0, runtime.nanotime1 and
// cpuinit itself. It runs on GOOS=tamago GOARCH=arm64 (board
// qemu-virt-arm64). The translation-table builder and the ESR decoder are
// plain Go and are host-tested; the register accessors have !tamago stubs
// so the package builds and vets on Linux.
package arm64
