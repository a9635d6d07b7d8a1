// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && arm64 && board_qemu_virt_arm64

package main

import (
	"github.com/tamavisor/tamavisor/board/qemu/virt"
	"github.com/tamavisor/tamavisor/hv"
)

func platform() *hv.Platform { return virt.Platform() }
