// cmd/hvmanifest: host tool that checks and bundles partition manifests.
// SPDX-License-Identifier: BSD-3-Clause

// Command hvmanifest checks a tamavisor partition manifest on the build
// host and bundles it, with the guest images it names, into a directory
// that the hypervisor embeds with //go:embed. It runs on the host only
// (it uses the file system); the format is described in
// hv/manifest/FORMAT.md.
//
// Usage:
//
//	hvmanifest check  [-cpus N] [-ram BYTES] [-reserve BASE:SIZE[:NAME]]... [-reserve-ports PORT:COUNT[:NAME]]... manifest.json
//	hvmanifest bundle -o DIR [-cpus N] [-ram BYTES] [-reserve BASE:SIZE[:NAME]]... [-reserve-ports PORT:COUNT[:NAME]]... manifest.json
//
// check parses and validates the manifest. Image paths are resolved
// relative to the manifest's directory; every kernel must be an ELF64
// (AArch64 or x86-64) or arm64 Linux Image file. -cpus is the number of
// physical CPUs vCPUs may be pinned to, -ram the host RAM for guests
// (e.g. 768M), -reserve a guest-physical window the hypervisor emulates
// in every VM (e.g. 0x08000000:16M:vgic), -reserve-ports a range of x86
// I/O ports the hypervisor keeps, which no device's "ports" may overlap
// (e.g. 0x3f8:8:com1 on a PC; a console port may still use it, it is
// emulated); each is checked only when given. It prints one line per problem and exits 1 if the manifest does
// not parse or any VM is rejected, else prints a one-line summary.
//
// bundle checks the same way and fails on any problem. It then
// re-creates DIR (only if DIR is missing, empty, or holds the .hvbundle
// marker a previous bundle left; any other directory is refused), copies
// each image to DIR/images/<base name> and writes DIR/manifest.json with
// the kernel and initrd fields rewritten to those bundle-relative names.
// Two different images with the same base name are refused. Embed the
// directory with a plain "//go:embed DIR" (the marker, a dot file, stays
// out) and read it with manifest.FSImageSize.
//
// Exit status: 0 success, 1 a problem with the manifest or its images,
// 2 a usage error.
package main
