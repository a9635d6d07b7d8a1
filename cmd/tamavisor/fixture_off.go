// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

//go:build !hpfixture

package main

import (
	"io"

	"github.com/tamavisor/tamavisor/hotpatch"
	"github.com/tamavisor/tamavisor/hv/shell"
)

// fixtureCommands: images built without the hpfixture tag have none.
func fixtureCommands(io.Writer) []shell.Command { return nil }

// fixtureStress: none without the hpfixture tag.
func fixtureStress(*hotpatch.Manager) []shell.Command { return nil }
