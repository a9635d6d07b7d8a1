// hotpatch/gomodule: make the Go runtime know live-patch code.
// SPDX-License-Identifier: BSD-3-Clause

//go:build go1.25 && !go1.26 && linux

package gomodule

import (
	"reflect"
	"unsafe"
)

// addr is the address of b's first byte (only the address is used).
func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// funcPC is the entry of f.
func funcPC(f func(int) []int) uintptr { return reflect.ValueOf(f).Pointer() }
