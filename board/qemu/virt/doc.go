// board/qemu/virt: the qemu-virt-arm64 board.
// SPDX-License-Identifier: BSD-3-Clause

// Package virt is tamavisor's board package for QEMU's arm64 "virt"
// machine (-M virt,gic-version=3,virtualization=on -cpu max), tamavisor's
// tier-1 arm64 board. Importing it, on GOOS=tamago GOARCH=arm64 with the
// linkcpuinit build tag, provides the TamaGo runtime hooks: RAM layout,
// early MMU set-up, console, time and entropy. Platform() describes the
// machine to the hypervisor core.
//
// It is platform as data: the addresses come from QEMU's hw/arm/virt.c
// memory map; the RAM size and CPU count are read from fw_cfg.
package virt
