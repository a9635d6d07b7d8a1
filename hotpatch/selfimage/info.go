// hotpatch/selfimage: the running image's own build-id and function symbols.
// SPDX-License-Identifier: BSD-3-Clause

package selfimage

import "sync"

// InfoSize is the size of the info array, the most a blob can take. The
// tamavisor images need about 190 KiB (some 3,200 functions).
const InfoSize = 512 << 10

// info is the array `tvimage hpinfo` overwrites, in the ELF file, with the
// image's blob (doc.go). It is initialised, so the linker places all of it
// in .noptrdata, which is in the file; the magic lets the tool check it
// found the right bytes. Until then it holds the bare magic, which Parse
// reports as ErrNotPostLinked. Nothing writes it at run time; Self only
// reads it.
var info = [InfoSize]byte{'T', 'V', 'H', 'P', 'I', 'N', 'F', 'O'}

// self parses info once: it never changes while the image runs.
var self = sync.OnceValues(func() (*Image, error) { return Parse(info[:]) })

// Self returns the running image's architecture, build-id and function
// symbols, parsed from its info array on the first call. It returns an
// error wrapping ErrNotPostLinked if `tvimage hpinfo` was not run on the
// image, as in host tests.
func Self() (*Image, error) { return self() }
