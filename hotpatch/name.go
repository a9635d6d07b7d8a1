// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import "strings"

// MaxNameLen is the longest payload name in bytes, the size of the name
// field in Xen's livepatch sysctl (XEN_LIVEPATCH_NAME_SIZE).
const MaxNameLen = 128

// CheckName reports whether name can name a payload: 1 to MaxNameLen
// bytes with no NUL byte. It returns an *Error wrapping EINVAL (empty, or a
// NUL inside) or ENAMETOOLONG. Names are compared byte for byte; they need
// not be valid UTF-8.
func CheckName(name string) error {
	switch {
	case name == "":
		return errorf(EINVAL, "empty payload name")
	case len(name) > MaxNameLen:
		return errorf(ENAMETOOLONG, "payload name is %d bytes, the limit is %d", len(name), MaxNameLen)
	case strings.IndexByte(name, 0) >= 0:
		return errorf(EINVAL, "payload name %q contains a NUL byte", name)
	}
	return nil
}

// ParseNameField extracts a payload name from a fixed-size, NUL-padded
// field, such as the 128-byte name field of a request read from a client:
// the name is the bytes before the first NUL, and every byte after it must
// be NUL too. A field with no NUL holds a name of the field's full length.
//
// It returns an *Error wrapping EINVAL if the field holds no name (empty or
// all NUL) or holds non-NUL garbage after the terminating NUL, and
// ENAMETOOLONG if the name is longer than MaxNameLen. field is not retained.
func ParseNameField(field []byte) (string, error) {
	n := len(field)
	for i, b := range field {
		if b == 0 {
			n = i
			break
		}
	}
	for i := n; i < len(field); i++ {
		if field[i] != 0 {
			return "", errorf(EINVAL, "payload name field has byte %#x at offset %d after the NUL terminator at %d", field[i], i, n)
		}
	}
	name := string(field[:n])
	if err := CheckName(name); err != nil {
		return "", err
	}
	return name, nil
}
