// board/qemu/q35: the qemu-q35-amd64 board.
// SPDX-License-Identifier: BSD-3-Clause

// Package q35 is tamavisor's board package for QEMU's x86-64 q35 machine
// under TCG (-M q35 -accel tcg -cpu max), loaded with -kernel through the
// PVH entry, by GRUB through Multiboot2 (BIOS or UEFI) or by UEFI as a
// PE32+ application, wherever the loader puts it (hv/amd64 reloc.go).
// Importing it, on GOOS=tamago GOARCH=amd64 with the linkcpuinit build tag, provides the TamaGo runtime hooks: RAM layout,
// IDT, COM1 console, TSC time calibrated against the 8254 PIT (never
// kvmclock) and entropy. Platform() describes the machine and the
// boot path (image/boot); RAM comes from the Multiboot2 or UEFI memory map,
// or from QEMU's fw_cfg etc/e820 under PVH, and the CPU count from fw_cfg.
package q35
