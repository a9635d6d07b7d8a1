// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64 && board_qemu_q35_amd64

package main

import (
	"github.com/tamavisor/tamavisor/board/qemu/q35"
	"github.com/tamavisor/tamavisor/hv"
)

func platform() *hv.Platform { return q35.Platform() }
