// cmd/hvmanifest: host tool that checks and bundles partition manifests.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/loader"
	"github.com/tamavisor/tamavisor/hv/manifest"
)

// Options are the machine facts a check uses; zero values are not
// checked (manifest.Limits).
type Options struct {
	CPUs     int
	GuestRAM uint64
	Reserved []manifest.Window
	// HostPorts are the x86 I/O port ranges the hypervisor keeps
	// (manifest.Limits.HostPorts), e.g. its COM1.
	HostPorts []hv.Region
}

// Checked is the outcome of Check.
type Checked struct {
	// Path is the manifest file; Dir the directory image names are
	// relative to.
	Path, Dir string
	Manifest  *manifest.Manifest
	Report    *manifest.Report
	// Kinds holds the format of each VM's kernel, by kernel name.
	Kinds map[string]loader.Kind
}

// ErrRejected is returned when the manifest parses but some VM is
// rejected; the details are in Checked.Report.
var ErrRejected = errors.New("hvmanifest: VMs rejected")

// rejectedError is ErrRejected with the counts, without repeating the
// sentinel's text.
type rejectedError struct{ msg string }

func (e *rejectedError) Error() string        { return e.msg }
func (e *rejectedError) Is(target error) bool { return target == ErrRejected }

// imagePath resolves an image name from the manifest.
func (c *Checked) imagePath(name string) string {
	if filepath.IsAbs(name) {
		return filepath.Clean(name)
	}
	return filepath.Join(c.Dir, filepath.FromSlash(name))
}

// Check reads, parses and validates the manifest at path. Images are
// looked up relative to the manifest's directory, and each kernel must be
// in a format hv/loader knows. A read or parse failure is returned as the
// error (with a nil Checked.Report); rejected VMs are listed in the
// Report and make the error ErrRejected.
func Check(path string, opts Options) (*Checked, error) {
	data, err := readLimited(path, manifest.MaxSize)
	if err != nil {
		return nil, err
	}
	m, err := manifest.Parse(data)
	if err != nil {
		return nil, err
	}
	c := &Checked{Path: path, Dir: filepath.Dir(path), Manifest: m, Kinds: map[string]loader.Kind{}}
	c.Report = m.Validate(manifest.Limits{
		CPUs:        opts.CPUs,
		GuestRAM:    opts.GuestRAM,
		Reserved:    opts.Reserved,
		HostPorts:   opts.HostPorts,
		ImageSize:   c.imageSize,
		CheckKernel: c.checkKernel,
	})
	if len(c.Report.Rejected) > 0 {
		return c, &rejectedError{fmt.Sprintf("%d of %d VMs rejected (image paths are relative to %s)",
			len(c.Report.Rejected), len(m.VMs), c.Dir)}
	}
	return c, nil
}

// readLimited reads a file of at most max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", manifest.ErrTooLarge, path, max)
	}
	return data, nil
}

// imageSize is Limits.ImageSize on the host file system: only regular
// files (after following symlinks) count.
func (c *Checked) imageSize(name string) (int64, bool) {
	fi, err := os.Stat(c.imagePath(name))
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	return fi.Size(), true
}

// checkKernel is Limits.CheckKernel: the kernel's headers must be a
// format hv/loader loads.
func (c *Checked) checkKernel(name string) error {
	f, err := os.Open(c.imagePath(name))
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, loader.ImageHeaderSize)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	kind, err := loader.Detect(head[:n])
	if err != nil {
		return err
	}
	c.Kinds[name] = kind
	return nil
}

// Summary is the one-line description of a successful check.
func (c *Checked) Summary() string {
	var vms []string
	for _, vm := range c.Report.Valid {
		s := fmt.Sprintf("%s (id %d, %d vCPUs, %s", vm.Name, vm.ID, len(vm.VCPUs), mib(vm.Memory.Size))
		if k, ok := c.Kinds[vm.Kernel]; ok {
			s += ", " + k.String()
		}
		if vm.Autostart {
			s += ", autostart"
		}
		vms = append(vms, s+")")
	}
	return fmt.Sprintf("%d VMs valid, %s guest RAM: %s", len(c.Report.Valid), mib(c.Report.RAM), strings.Join(vms, ", "))
}

func mib(n uint64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%#x bytes", n)
}

// MarkerFile is created in every bundle directory; only a directory that
// holds it (or is empty) is ever wiped.
const MarkerFile = ".hvbundle"

// ImagesDir is where a bundle keeps its images.
const ImagesDir = "images"

// Bundle checks the manifest at path like Check, failing on any problem,
// and writes the bundle into dir: dir/manifest.json with image names
// rewritten to "images/<base name>", and the images under dir/images. dir
// is wiped first, but only if it is empty or holds MarkerFile; the
// manifest and its images must not live inside dir.
func Bundle(path, dir string, opts Options) (*Checked, error) {
	c, err := Check(path, opts)
	if err != nil {
		return c, err
	}
	plan, err := c.planImages(dir)
	if err != nil {
		return c, err
	}
	if err := prepareDir(dir); err != nil {
		return c, err
	}
	for bundled, src := range plan {
		if err := copyFile(src, filepath.Join(dir, filepath.FromSlash(bundled))); err != nil {
			return c, err
		}
	}
	out := &manifest.Manifest{}
	for _, vm := range c.Manifest.VMs {
		nv := *vm
		nv.Kernel = bundleName(vm.Kernel)
		if vm.Initrd != "" {
			nv.Initrd = bundleName(vm.Initrd)
		}
		out.VMs = append(out.VMs, &nv)
	}
	data, err := out.Encode()
	if err != nil {
		return c, err
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), data, 0o644); err != nil {
		return c, err
	}
	// The hypervisor will read the bundle through an fs.FS: check that
	// it holds up that way.
	back, err := manifest.Parse(data)
	if err != nil {
		return c, fmt.Errorf("hvmanifest: bundled manifest does not parse: %w", err)
	}
	if err := back.Validate(manifest.Limits{ImageSize: manifest.FSImageSize(os.DirFS(dir))}).Err(); err != nil {
		return c, fmt.Errorf("hvmanifest: bundled manifest does not validate: %w", err)
	}
	return c, nil
}

// bundleName is the name an image gets inside the bundle.
func bundleName(name string) string {
	return ImagesDir + "/" + filepath.Base(filepath.FromSlash(name))
}

// validBundleName reports whether base can go into a bundle: go:embed
// skips names starting with '.' or '_' and refuses some punctuation, so
// only letters, digits and ._+- are allowed, starting with a letter or
// digit.
func validBundleName(base string) bool {
	for i := 0; i < len(base); i++ {
		c := base[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._+-", rune(c))) {
			return false
		}
	}
	return base != ""
}

// planImages maps each bundle name to the source file it is copied from,
// refusing two different files with the same base name, names go:embed
// cannot carry, and sources inside dir (which is about to be wiped).
func (c *Checked) planImages(dir string) (map[string]string, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	inside := func(p string) bool {
		abs, err := filepath.Abs(p)
		return err == nil && (abs == absDir || strings.HasPrefix(abs, absDir+string(filepath.Separator)))
	}
	if inside(c.Path) {
		return nil, fmt.Errorf("hvmanifest: the manifest %s is inside the bundle directory %s", c.Path, dir)
	}
	plan := map[string]string{}
	for _, vm := range c.Manifest.VMs {
		for _, name := range []string{vm.Kernel, vm.Initrd} {
			if name == "" {
				continue
			}
			src := c.imagePath(name)
			base := filepath.Base(src)
			if !validBundleName(base) {
				return nil, fmt.Errorf("hvmanifest: %s %q: base name %q cannot go into a bundle (use letters, digits and ._+-, starting with a letter or digit)",
					vm.Label(), name, base)
			}
			if inside(src) {
				return nil, fmt.Errorf("hvmanifest: %s: image %s is inside the bundle directory %s", vm.Label(), src, dir)
			}
			bundled := bundleName(name)
			if prev, ok := plan[bundled]; ok && !sameFile(prev, src) {
				return nil, fmt.Errorf("hvmanifest: two different images are both called %q in the bundle: %s and %s", base, prev, src)
			}
			plan[bundled] = src
		}
	}
	return plan, nil
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// prepareDir makes dir an empty bundle directory holding only the
// marker. An existing dir is removed only if it is empty or holds the
// marker; symlinks and other files are refused.
func prepareDir(dir string) error {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("hvmanifest: %s exists and is not a directory", dir)
	default:
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		if len(entries) > 0 {
			marker, err := os.Lstat(filepath.Join(dir, MarkerFile))
			if err != nil || !marker.Mode().IsRegular() {
				return fmt.Errorf("hvmanifest: refusing to wipe %s: it is not empty and has no %s marker from an earlier bundle", dir, MarkerFile)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, ImagesDir), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, MarkerFile),
		[]byte("hvmanifest bundle: this directory is wiped and rewritten by every 'hvmanifest bundle'\n"), 0o644)
}

func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = io.Copy(out, in)
	return err
}
