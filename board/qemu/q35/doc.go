// board/qemu/q35: the qemu-q35-amd64 board.
// SPDX-License-Identifier: BSD-3-Clause

// Package q35 is tamavisor's board package for QEMU's x86-64 q35 machine
// under TCG (-M q35 -accel tcg -cpu max), loaded with -kernel through the
// PVH entry. Importing it, on GOOS=tamago GOARCH=amd64 with the
// linkcpuinit build tag, provides the TamaGo runtime hooks: RAM layout,
// IDT, COM1 console, TSC time calibrated against the 8254 PIT (never
// kvmclock) and entropy. Platform() describes the machine; RAM and CPU
// count come from QEMU's fw_cfg (etc/e820, NB_CPUS).
package q35
