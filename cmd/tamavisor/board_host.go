// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

//go:build !tamago

package main

import (
	"errors"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/tamavisor/tamavisor/hotpatch"
	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/shell"
	"github.com/tamavisor/tamavisor/hv/vmm"
)

// stdio joins standard input and output into the console.
type stdio struct {
	io.Reader
	io.Writer
}

var start = time.Now()

// platform describes a simulated machine so the shell can run on a
// development host. Nothing here is hardware: the board is called "host"
// and poweroff just exits.
func platform() *hv.Platform {
	return &hv.Platform{
		Board: "host",
		Arch:  runtime.GOARCH,
		Mode:  "host process (simulation, no hypervisor)",
		CPUs:  runtime.NumCPU(),
		MemoryMap: []hv.Region{
			{Name: "ram", Kind: hv.RAM, Base: 0x4000_0000, Size: 1 << 30},
		},
		HypervisorRAM: hv.Region{Name: "hypervisor", Kind: hv.RAM, Base: 0x4000_0000, Size: 256 << 20},
		Features:      map[string]bool{},
		Details:       map[string]string{"note": "simulated platform"},
		Console:       stdio{os.Stdin, os.Stdout},
		Uptime:        func() time.Duration { return time.Since(start) },
		Poweroff: func() error {
			os.Exit(0)
			return errors.New("unreachable")
		},
	}
}

// startVMs: host builds simulate the platform only; no VMs.
func startVMs(p *hv.Platform, console io.Writer) *vmm.Manager { return nil }

// codeMemory: a host build cannot change its own code.
func codeMemory() hotpatch.CodeMemory { return nil }

// bootPayloads: the host build has no boot payloads.
func bootPayloads() []bootPayload { return nil }

// boardCommands: none on this board.
func boardCommands() []shell.Command { return nil }
