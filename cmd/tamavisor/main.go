// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

// Command tamavisor is the hypervisor image: one main for every board.
// The board is chosen by a build tag the Makefile sets
// (board_qemu_virt_arm64, board_qemu_q35_amd64); each board_*.go file
// imports its board package, whose runtime hooks bring up the CPU, and
// returns the board's hv.Platform.
//
// Built for the host (no tamago), it runs the same shell on standard
// input and output against a simulated platform, which is how the shell
// can be tried without QEMU.
//
// It prints a banner, then serves the operator shell (prompt
// "tamavisor> ") on the serial console until poweroff.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/shell"
)

func main() {
	p := platform()
	banner(p.Console, p)

	cmds := shell.Standard(p)
	cmds = append(cmds, fixtureCommands(p.Console)...)
	cmds = append(cmds, boardCommands()...)
	// Live patching first: payloads given at boot are applied before
	// any guest runs.
	hpCmds, hm, eng := hotpatchCommands(p.Console)
	applyBootPayloads(p.Console, hm, bootPayloads())
	m := startVMs(p, p.Console)
	if m != nil {
		cmds = append(cmds, m.Commands(p.Console)...)
		eng.SetQuiesce(m.Quiesce)
	}
	cmds = append(cmds, hpCmds...)
	cmds = append(cmds, fixtureStress(hm)...)
	sh := shell.New(p.Console, p.Console)
	for _, c := range cmds {
		if err := sh.Register(c); err != nil {
			fmt.Fprintf(p.Console, "tamavisor: %v\n", err)
		}
	}
	if err := sh.Run(); err != nil {
		fmt.Fprintf(p.Console, "tamavisor: shell stopped: %v\n", err)
	}
	// The console closed (host builds) or the shell gave up: power off.
	if p.Poweroff != nil {
		if err := p.Poweroff(); err != nil {
			fmt.Fprintf(os.Stderr, "tamavisor: %v\n", err)
		}
	}
}

// banner prints what an operator needs first: version, board, mode, RAM
// and CPUs. The integration tests match these lines.
func banner(w io.Writer, p *hv.Platform) {
	var ram uint64
	var ramBase []string
	for _, r := range p.RAM() {
		ram += r.Size
		ramBase = append(ramBase, fmt.Sprintf("%#x", uint64(r.Base)))
	}
	var feats []string
	for f, on := range p.Features {
		if on {
			feats = append(feats, f)
		} else {
			feats = append(feats, "no-"+f)
		}
	}
	sort.Strings(feats)
	out := &strings.Builder{}
	fmt.Fprintf(out, "\ntamavisor %s (rev %s)\n", hv.Version, hv.Revision)
	fmt.Fprintf(out, "board: %s\n", p.Board)
	fmt.Fprintf(out, "mode: %s\n", p.Mode)
	fmt.Fprintf(out, "ram: %d MiB at %s (hypervisor %d MiB at %#x)\n",
		ram>>20, strings.Join(ramBase, ","), p.HypervisorRAM.Size>>20, uint64(p.HypervisorRAM.Base))
	fmt.Fprintf(out, "cpus: %d\n", p.CPUs)
	fmt.Fprintf(out, "features: %s\n", strings.Join(feats, " "))
	if x := p.Details["wx"]; x != "" {
		fmt.Fprintf(out, "wx: %s\n", x)
	}
	if e := p.Details["errors"]; e != "" {
		fmt.Fprintf(out, "boot errors: %s\n", e)
	}
	io.WriteString(w, strings.ReplaceAll(out.String(), "\n", "\r\n"))
}
