// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

//go:build hpfixture

package main

import (
	"fmt"
	"io"

	"github.com/tamavisor/tamavisor/hotpatch"
	"github.com/tamavisor/tamavisor/hotpatch/hpfixture"
	"github.com/tamavisor/tamavisor/hv/shell"
)

// fixtureCommands adds the live-patch test fixture (test images only).
func fixtureCommands(console io.Writer) []shell.Command {
	cmds, err := hpfixture.Register()
	if err != nil {
		fmt.Fprintf(console, "tamavisor: hpfixture: %v\r\n", err)
		return nil
	}
	fmt.Fprintf(console, "tamavisor: hpfixture: version %d (test image)\r\n", hpfixture.Version())
	return cmds
}

// fixtureStress adds the apply/revert stress command.
func fixtureStress(m *hotpatch.Manager) []shell.Command {
	return []shell.Command{hpfixture.StressCommand(m)}
}
