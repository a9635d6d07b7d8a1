// image/pe: example of converting a TamaGo ELF image to a PE32+ EFI application.
// SPDX-License-Identifier: BSD-3-Clause

package pe

import (
	"bytes"
	dpe "debug/pe"
	"fmt"
)

// A TamaGo amd64 image has its first PT_LOAD at file offset 0, so the
// page before .text holds only the ELF headers and notes. SkipHeaderPage
// drops it and the PE headers take its place at RVA 0: the image base is
// the link address of that page and every section keeps its link-time
// address. A real caller reads build/<board>/tamavisor.elf and passes the
// virtual address of its EFI entry function as Entry.
func ExampleFromELF() {
	elfImage := tamagoELF().build() // synthetic: see pe_test.go

	efi, err := FromELF(elfImage, Options{
		Entry:          0x10001020,
		SkipHeaderPage: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	f, err := dpe.NewFile(bytes.NewReader(efi))
	if err != nil {
		fmt.Println(err)
		return
	}
	oh := f.OptionalHeader.(*dpe.OptionalHeader64)
	fmt.Printf("ImageBase %#x entry RVA %#x SizeOfImage %#x\n", oh.ImageBase, oh.AddressOfEntryPoint, oh.SizeOfImage)
	for _, s := range f.Sections {
		fmt.Printf("%-7s RVA 0x%05x VirtualSize 0x%04x raw 0x%04x at 0x%04x\n",
			s.Name, s.VirtualAddress, s.VirtualSize, s.Size, s.Offset)
	}
	// Output:
	// ImageBase 0x10000000 entry RVA 0x1020 SizeOfImage 0xe6000
	// .text   RVA 0x01000 VirtualSize 0x2345 raw 0x2400 at 0x0200
	// .rdata  RVA 0xd2000 VirtualSize 0x1234 raw 0x1400 at 0x2600
	// .data   RVA 0xe0000 VirtualSize 0x5000 raw 0x0800 at 0x3a00
	// .reloc  RVA 0xe5000 VirtualSize 0x000c raw 0x0200 at 0x4200
}
