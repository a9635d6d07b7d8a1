// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

//go:build tamago

package main

import (
	"embed"
	"path"
)

// bundle is the manifest and guest images, put there by
// `hvmanifest bundle` from the Makefile's MANIFEST for the board.
//
//go:embed all:bundle
var bundle embed.FS

// image returns an embedded bundle file by name.
func image(name string) ([]byte, bool) {
	b, err := bundle.ReadFile(path.Join("bundle", name))
	return b, err == nil
}
