// cmd/mkpatch: live-patch payload tool for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"fmt"

	"github.com/tamavisor/tamavisor/hotpatch/gofunc"
	"github.com/tamavisor/tamavisor/hotpatch/payload"
)

// runtimeTables reads the Go runtime metadata (hotpatch/gofunc) of the
// functions of NEW named in names. The payload carries it, encoded, in
// .tvpatch.pcln so that the runtime knows the new code (stack growth, GC
// stack scans, tracebacks). Each function's code in the payload must be
// the Func's Size long: its pc tables cover the function up to the next
// one, padding included. A function whose metadata gofunc cannot carry
// is a refusal.
func runtimeTables(elf []byte, names []string) ([]*gofunc.Func, []refusal, error) {
	im, err := gofunc.Open(elf)
	if err != nil {
		return nil, nil, fmt.Errorf("NEW: runtime tables: %w", err)
	}
	fs := make([]*gofunc.Func, len(names))
	var rs []refusal
	for i, n := range names {
		if fs[i], err = im.Func(n); err != nil {
			rs = append(rs, refusal{fn: n, why: fmt.Sprintf("runtime tables: %v", err)})
		}
	}
	return fs, rs, nil
}

// setPCLN encodes fs, in payload order, into p.PCLN.
func setPCLN(p *payload.Payload, fs []*gofunc.Func) error {
	b, err := gofunc.Encode(fs)
	if err != nil {
		return fmt.Errorf("runtime tables: %w", err)
	}
	if len(b) > payload.MaxPCLN {
		return fmt.Errorf("%w: runtime tables of %d bytes, a payload carries at most %d", errRefused, len(b), payload.MaxPCLN)
	}
	p.PCLN = b
	return nil
}
