// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64 && board_qemu_q35_amd64

package main

import (
	"io"

	"github.com/tamavisor/tamavisor/board/qemu/q35"
	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

func platform() *hv.Platform { return q35.Platform() }

// startVMs: the amd64 hypervisor core (SVM/VMX) is not there yet, so
// this board runs no VMs.
func startVMs(p *hv.Platform, console io.Writer) *vmm.Manager { return nil }
