// hv: the architecture-neutral core of the tamavisor hypervisor.
// SPDX-License-Identifier: BSD-3-Clause

package hv

import "fmt"

// PA is a host physical address.
type PA uint64

// IPA is a guest physical address (intermediate physical address on
// arm64, guest-physical address under NPT/EPT on amd64).
type IPA uint64

// VA is a virtual address in the hypervisor's own translation regime.
type VA uint64

// PageSize is the 4 KiB translation granule used throughout tamavisor.
const PageSize = 4096

func (a PA) String() string  { return fmt.Sprintf("pa:%#x", uint64(a)) }
func (a IPA) String() string { return fmt.Sprintf("ipa:%#x", uint64(a)) }
func (a VA) String() string  { return fmt.Sprintf("va:%#x", uint64(a)) }

// PageAligned reports whether a is a multiple of PageSize.
func (a PA) PageAligned() bool { return a%PageSize == 0 }

// IdentityVA returns the hypervisor virtual address of pa under
// tamavisor's identity-mapped hypervisor address space. Every
// conversion between address kinds goes through a named function like
// this one, so a later non-identity layout changes one place.
func IdentityVA(pa PA) VA { return VA(pa) }

// IdentityPA is the inverse of IdentityVA.
func IdentityPA(va VA) PA { return PA(va) }
