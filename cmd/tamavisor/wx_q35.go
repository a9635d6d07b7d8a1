// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64 && board_qemu_q35_amd64

package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tamavisor/tamavisor/hv/amd64"
	"github.com/tamavisor/tamavisor/hv/shell"
)

// boardCommands: wx, the W^X report of the hypervisor's own page tables.
func boardCommands() []shell.Command {
	return []shell.Command{{
		Name: "wx",
		Args: "[probe] [--json]",
		Help: "check the live page tables for W^X; probe: make the accesses W^X must stop",
		Run:  runWX,
	}}
}

type wxProbeJSON struct {
	Name    string `json:"name"`
	Addr    uint64 `json:"addr"`
	Exec    bool   `json:"exec"`
	Faulted bool   `json:"faulted"`
	Error   uint64 `json:"pf_error"`
	CR2     uint64 `json:"cr2"`
	OK      bool   `json:"ok"`
}

type wxJSON struct {
	Enabled      bool              `json:"enabled"`
	NX           bool              `json:"nx"`
	Tables       int               `json:"tables"`
	Pages        map[string]uint64 `json:"pages"`
	WritableExec uint64            `json:"writable_exec"`
	ExecOutside  uint64            `json:"exec_outside"`
	Errors       []string          `json:"errors"`
	Probes       []wxProbeJSON     `json:"probes,omitempty"`
}

// runWX checks the tables the boot CPU runs on (CheckWX and a count of
// pages by permission) and, with "probe", makes the stores and
// instruction fetches W^X must stop. It fails when the tables do not
// check out or a probe does not come out as the state requires.
func runWX(c *shell.Context, args []string) error {
	probe := false
	for _, a := range args {
		if a != "probe" {
			return fmt.Errorf("wx: unknown argument %q (usage: wx [probe] [--json])", a)
		}
		probe = true
	}
	st := amd64.WX()
	sum, errs := amd64.CheckLiveWX()
	out := wxJSON{Enabled: st.Enabled, NX: st.NX, Tables: st.Tables, Pages: sum.Pages,
		WritableExec: sum.WritableExec, ExecOutside: sum.ExecOutsideText, Errors: []string{}}
	for _, e := range errs {
		out.Errors = append(out.Errors, e.Error())
	}
	var bad []error
	bad = append(bad, errs...)
	if probe {
		for _, p := range amd64.ProbeWX() {
			err := p.Check(st)
			out.Probes = append(out.Probes, wxProbeJSON{p.Name, p.Addr, p.Exec, p.Faulted, p.Err, p.CR2, err == nil})
			if err != nil {
				bad = append(bad, err)
			}
		}
	}
	if c.JSON {
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.Out, "%s\n", b)
	} else {
		fmt.Fprintf(c.Out, "wx: %s\n", st)
		if st.Enabled {
			fmt.Fprintf(c.Out, "live tables: r-x %d, r-- %d, rw- %d, rwx %d pages; writable+executable %d, executable outside text and arena %d\n",
				sum.Pages["r-x"], sum.Pages["r--"], sum.Pages["rw-"], sum.Pages["rwx"], sum.WritableExec, sum.ExecOutsideText)
		}
		if len(errs) == 0 {
			fmt.Fprintf(c.Out, "check: ok\n")
		}
		for _, e := range errs {
			fmt.Fprintf(c.Out, "check: %v\n", e)
		}
		for _, p := range out.Probes {
			res := "no fault"
			if p.Faulted {
				res = fmt.Sprintf("#PF error %#x CR2 %#x", p.Error, p.CR2)
			}
			verdict := "ok"
			if !p.OK {
				verdict = "WRONG"
			}
			fmt.Fprintf(c.Out, "probe %-30s %#x: %s: %s\n", p.Name, p.Addr, res, verdict)
		}
	}
	return errors.Join(bad...)
}
