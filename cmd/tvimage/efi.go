// cmd/tvimage: post-link tool that makes bootable tamavisor images.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"github.com/tamavisor/tamavisor/image/multiboot2"
	"github.com/tamavisor/tamavisor/image/pe"
)

// efiImage converts the ELF into a PE32+ EFI application entered at
// hv/amd64's efi_pe_entry. The first page (ELF headers) is left out so
// the image base can be the link base.
func efiImage(elf []byte) ([]byte, error) {
	entry, err := multiboot2.SymbolValue(elf, symEFIPE)
	if err != nil {
		return nil, err
	}
	return pe.FromELF(elf, pe.Options{Entry: entry, SkipHeaderPage: true})
}
