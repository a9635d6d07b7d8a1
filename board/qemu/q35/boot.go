// board/qemu/q35: the qemu-q35-amd64 board.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago && amd64

package q35

import (
	"fmt"
	"sync"

	"github.com/tamavisor/tamavisor/hv/amd64"
	"github.com/tamavisor/tamavisor/hv/manifest"
	"github.com/tamavisor/tamavisor/image/boot"
)

var (
	bootOnce   sync.Once
	bootCached *boot.Result
)

// bootResult decodes what the loader handed over (image/boot) and checks
// that cpuinit's page tables implement the relocation it measured, once.
func bootResult() *boot.Result {
	bootOnce.Do(func() { bootCached = collectBoot() })
	return bootCached
}

func collectBoot() *boot.Result {
	p := amd64.Boot()
	e := boot.Entry{
		Magic:     p.Magic,
		Info:      uint64(p.Info),
		LinkBase:  p.Reloc.LinkBase,
		LoadBase:  p.Reloc.LoadBase,
		Size:      p.Reloc.Size,
		EFIEntry:  p.Flags&amd64.BOOT_EFI_ENTRY != 0,
		PE:        p.Flags&amd64.BOOT_PE_ENTRY != 0,
		EBSDone:   p.Flags&amd64.BOOT_EBS_DONE != 0,
		NoTable:   p.Flags&amd64.BOOT_EBS_NOTABLE != 0,
		EBSStatus: p.EBSStatus,
		EBSTries:  p.EBSTries,
		EFISystab: p.EFISystab,
		EFIMap:    p.EFIMap,
		DescSize:  p.DescSize,
	}
	read := func(pa uint64, n int) ([]byte, error) { return amd64.PhysRead(p.Reloc, pa, n) }
	r := boot.Collect(e, read)
	if err := p.Reloc.Validate(); err != nil {
		r.Info.Errors = append(r.Info.Errors, err.Error())
	} else if errs := amd64.CheckEarlyMap(p.Reloc); len(errs) > 0 {
		r.Info.Errors = append(r.Info.Errors, fmt.Sprintf("early page tables: %d mismatches, first: %v", len(errs), errs[0]))
	}
	manifestModule(r, read)
	return r
}

// manifestModule parses the "manifest" boot module, if any, and records
// the result. amd64 runs no VMs yet (issue 5), so the VMs are only
// validated and counted.
func manifestModule(r *boot.Result, read boot.Reader) {
	m, ok := r.Module("manifest")
	if !ok {
		return
	}
	if m.Size > manifest.MaxSize {
		r.Info.Errors = append(r.Info.Errors, fmt.Sprintf("manifest module: %d bytes, at most %d allowed", m.Size, manifest.MaxSize))
		return
	}
	b, err := read(uint64(m.Base), int(m.Size))
	if err != nil {
		r.Info.Errors = append(r.Info.Errors, fmt.Sprintf("manifest module: %v", err))
		return
	}
	man, err := manifest.Parse(b)
	if err != nil {
		r.Info.Errors = append(r.Info.Errors, fmt.Sprintf("manifest module: %v", err))
		return
	}
	manifestVMs = len(man.VMs)
	for _, vm := range man.VMs {
		r.Info.Errors = append(r.Info.Errors, r.MissingImages(vm.Name, vm.Kernel, vm.Initrd)...)
	}
}

// manifestVMs is the number of VMs in the manifest module, -1 if none.
var manifestVMs = -1
