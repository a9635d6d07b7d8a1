// cmd/tvimage: post-link tool that makes bootable tamavisor images.
// SPDX-License-Identifier: BSD-3-Clause

// Command tvimage turns the amd64 ELF the TamaGo linker writes into the
// images loaders boot:
//
//	tvimage mb2 [-no-efi-bs] -o OUT IN   Multiboot2 header + RAM reservation
//	tvimage efi -o OUT IN                PE32+ EFI application (BOOTX64.EFI)
//	tvimage show IN                      print the Multiboot2 header
//	tvimage hpinfo [-symbol NAME] IMAGE  write the live-patch self-image info
//	                                     (build-id, functions) in place
//	tvimage buildid [-symbol NAME] IMAGE print the build-id hpinfo recorded
//
// The Multiboot2 header cannot be placed by the Go linker (it orders
// .text by package, so no symbol can be put in the first 32 KiB), so
// tvimage writes it into the zero gap between the ELF section header
// table and the first note, inside the first 32 KiB as the spec demands.
// See image/multiboot2 (PatchELF) and README "Booting".
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tvimage:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage: tvimage mb2 [-no-efi-bs] [-reloc-min A] [-reloc-max A] [-reloc-align A] -o OUT IN | efi -o OUT IN | show IN | hpinfo [-symbol NAME] IMAGE | buildid [-symbol NAME] IMAGE")

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "hpinfo", "buildid":
		return runHPInfo(args[0], args[1:], stdout)
	}
	fs := flag.NewFlagSet("tvimage "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("o", "", "output file")
	noBS := fs.Bool("no-efi-bs", false, "leave out the EFI boot services tag (GRUB on UEFI then exits boot services and uses the 32-bit entry)")
	minAddr := fs.Uint64("reloc-min", relocMin, "relocatable tag min_addr (tests force relocation with it)")
	maxAddr := fs.Uint64("reloc-max", relocMax, "relocatable tag max_addr: the highest address the image may end at")
	align := fs.Uint64("reloc-align", relocAlign, "relocatable tag align (tests use a bad one to check cpuinit's refusal)")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%v\n%v", err, errUsage)
	}
	if fs.NArg() != 1 {
		return errUsage
	}
	in, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var img []byte
	switch args[0] {
	case "mb2":
		var desc string
		if *minAddr > 0xffff_ffff || *maxAddr > 0xffff_ffff || *align > 0xffff_ffff {
			return fmt.Errorf("-reloc-min %#x / -reloc-max %#x / -reloc-align %#x above 4 GiB", *minAddr, *maxAddr, *align)
		}
		img, desc, err = multiboot2Image(in, mb2Options{efiBS: !*noBS, min: uint32(*minAddr), max: uint32(*maxAddr), align: uint32(*align)})
		if err == nil {
			fmt.Fprintln(stdout, desc)
		}
	case "efi":
		img, err = efiImage(in)
	case "show":
		desc, err := describeHeader(in)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, desc)
		return nil
	default:
		return errUsage
	}
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	if *out == "" {
		return errors.New("-o OUT is required")
	}
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, img, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}
