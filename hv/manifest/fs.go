// hv/manifest: the partition manifest that says which VMs tamavisor runs.
// SPDX-License-Identifier: BSD-3-Clause

package manifest

import "io/fs"

// FSImageSize returns a Limits.ImageSize that looks images up in fsys,
// e.g. the bundle cmd/hvmanifest writes, embedded in the hypervisor with
// //go:embed. Only regular files count; names must be valid fs paths
// ("images/Image", never "../x").
func FSImageSize(fsys fs.FS) func(name string) (int64, bool) {
	return func(name string) (int64, bool) {
		if !fs.ValidPath(name) {
			return 0, false
		}
		fi, err := fs.Stat(fsys, name)
		if err != nil || !fi.Mode().IsRegular() {
			return 0, false
		}
		return fi.Size(), true
	}
}
