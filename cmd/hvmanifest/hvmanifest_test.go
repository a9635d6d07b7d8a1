// cmd/hvmanifest: host tool that checks and bundles partition manifests.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv/loader"
	"github.com/tamavisor/tamavisor/hv/manifest"
)

// kernelImage returns a minimal arm64 Linux Image of n bytes.
func kernelImage(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	h := loader.ImageHeader{ImageSize: uint64(n), Magic: loader.ARM64_IMAGE_MAGIC}
	if err := binary.Write(&b, binary.LittleEndian, &h); err != nil {
		t.Fatal(err)
	}
	b.Write(make([]byte, n-b.Len()))
	return b.Bytes()
}

// tree writes files (name → content) under a new temporary directory.
func tree(t *testing.T, files map[string][]byte) string {
	t.Helper()
	root := t.TempDir()
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const twoVMs = `{"vms":[
 {"name":"linux","id":1,"vcpus":[{"cpu":0},{"cpu":1}],"memory":{"base":"0x40000000","size":"256M"},
  "kernel":"../build/guests/linux/Image","initrd":"../build/guests/linux/initramfs.cpio.gz",
  "cmdline":"console=ttyAMA0","console":{"base":"0x09000000","irq":33},"autostart":true},
 {"name":"testguest","id":2,"vcpus":[{"cpu":1}],"memory":{"base":"0x40000000","size":"64M"},
  "kernel":"../build/guests/testguest.elf","console":{"base":"0x09000000","irq":33}}]}`

// demoTree is a source tree with a manifest in examples/ and the images
// in build/guests.
func demoTree(t *testing.T, manifestText string) (root, path string) {
	root = tree(t, map[string][]byte{
		"examples/demo.json":                   []byte(manifestText),
		"build/guests/linux/Image":             kernelImage(t, 4096),
		"build/guests/linux/initramfs.cpio.gz": []byte("070701..."),
		"build/guests/testguest.elf":           []byte("\x7fELF\x02\x01\x01" + strings.Repeat("\x00", 11) + "\xb7\x00" + strings.Repeat("\x00", 44)),
	})
	return root, filepath.Join(root, "examples", "demo.json")
}

func runTool(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestCheck(t *testing.T) {
	_, path := demoTree(t, twoVMs)
	c, err := Check(path, Options{CPUs: 2, GuestRAM: 512 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Summary(), "2 VMs valid, 320 MiB guest RAM: linux (id 1, 2 vCPUs, 256 MiB, arm64 Linux Image, autostart), "+
		"testguest (id 2, 1 vCPUs, 64 MiB, ELF64 AArch64)"; got != want {
		t.Errorf("summary\n got %q\nwant %q", got, want)
	}
	code, out, errOut := runTool("check", "-cpus", "2", "-ram", "512M", "-reserve", "0x08000000:16M:vgic", path)
	if code != 0 || !strings.HasSuffix(out, ": 2 VMs valid, 320 MiB guest RAM: linux (id 1, 2 vCPUs, 256 MiB, arm64 Linux Image, autostart), testguest (id 2, 1 vCPUs, 64 MiB, ELF64 AArch64)\n") || errOut != "" {
		t.Errorf("check: %d\n%s%s", code, out, errOut)
	}
}

func TestCheckProblems(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(root string)
		args  []string
		text  string // manifest, default twoVMs
		lines []string
	}{
		{name: "missing image", edit: func(root string) { os.Remove(filepath.Join(root, "build/guests/testguest.elf")) },
			lines: []string{`demo.json: vm "testguest": kernel: image "../build/guests/testguest.elf" not found`,
				`demo.json: 1 of 2 VMs rejected (image paths are relative to `}},
		{name: "empty initrd", edit: func(root string) {
			os.WriteFile(filepath.Join(root, "build/guests/linux/initramfs.cpio.gz"), nil, 0o644)
		},
			lines: []string{`vm "linux": initrd: image "../build/guests/linux/initramfs.cpio.gz" is empty`}},
		{name: "image is a directory", edit: func(root string) {
			os.Remove(filepath.Join(root, "build/guests/testguest.elf"))
			os.Mkdir(filepath.Join(root, "build/guests/testguest.elf"), 0o755)
		}, lines: []string{`vm "testguest": kernel: image "../build/guests/testguest.elf" not found`}},
		{name: "unknown kernel format", edit: func(root string) {
			os.WriteFile(filepath.Join(root, "build/guests/testguest.elf"), []byte("#!/bin/sh\n"), 0o644)
		}, lines: []string{`vm "testguest": kernel: image "../build/guests/testguest.elf": loader: unknown image format`}},
		{name: "too few CPUs", args: []string{"-cpus", "1"},
			lines: []string{`vm "linux": vcpus[1].cpu: CPU 1 does not exist: the machine has 1 CPUs (0..0)`,
				`vm "testguest": vcpus[0].cpu: CPU 1 does not exist`, `2 of 2 VMs rejected`}},
		{name: "too little RAM", args: []string{"-ram", "300M"},
			lines: []string{`vm "testguest": memory: size 0x4000000 does not fit: 0x2c00000 of the 0x12c00000 bytes of guest RAM are left`}},
		{name: "reserved window", args: []string{"-reserve", "0x09000000:4K"},
			lines: []string{`vm "linux": console: [0x9000000,0x9001000) overlaps the hypervisor's reserved window`}},
		{name: "parse error", text: `{"vms":[{"name":"a b"}]}`,
			lines: []string{`demo.json: vms[0]: name: "a b": want 1..32 characters`, `demo.json: vms[0]: id: missing`}},
		{name: "syntax error", text: "{\n\"vms\": [,]}",
			lines: []string{`demo.json: manifest: line 2 col 9: invalid character ','`}},
		{name: "missing manifest", edit: func(root string) { os.Remove(filepath.Join(root, "examples/demo.json")) },
			lines: []string{`demo.json: open `, `no such file or directory`}},
		{name: "huge manifest", text: `{"vms":[]}` + strings.Repeat(" ", manifest.MaxSize),
			lines: []string{`is larger than 65536 bytes`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.text
			if text == "" {
				text = twoVMs
			}
			root, path := demoTree(t, text)
			if tc.edit != nil {
				tc.edit(root)
			}
			code, out, errOut := runTool(append(append([]string{"check"}, tc.args...), path)...)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q", code, out)
			}
			for _, l := range tc.lines {
				if !strings.Contains(errOut, l) {
					t.Errorf("stderr lacks %q:\n%s", l, errOut)
				}
			}
		})
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"check"}, {"check", "a", "b"}, {"bundle", "x.json"},
		{"check", "-ram", "lots", "x.json"}, {"check", "-reserve", "0x1000", "x.json"}, {"check", "-cpus", "-1", "x.json"}} {
		if code, _, errOut := runTool(args...); code != 2 || errOut == "" {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
	}
	if code, out, _ := runTool("help"); code != 0 || !strings.Contains(out, "usage:") {
		t.Errorf("help: %d %q", code, out)
	}
}

func readBundle(t *testing.T, dir string) *manifest.Manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBundle(t *testing.T) {
	root, path := demoTree(t, twoVMs)
	out := filepath.Join(root, "build", "bundle")
	code, stdout, errOut := runTool("bundle", "-o", out, "-cpus", "2", path)
	if code != 0 || errOut != "" || !strings.Contains(stdout, "bundled into "+out) {
		t.Fatalf("bundle: exit %d\n%s%s", code, stdout, errOut)
	}
	m := readBundle(t, out)
	if k := m.VM("linux"); k.Kernel != "images/Image" || k.Initrd != "images/initramfs.cpio.gz" || k.Cmdline != "console=ttyAMA0" {
		t.Errorf("linux VM in the bundle: %+v", k)
	}
	if k := m.VM("testguest"); k.Kernel != "images/testguest.elf" || k.Initrd != "" {
		t.Errorf("testguest VM in the bundle: %+v", k)
	}
	for _, f := range []string{"Image", "initramfs.cpio.gz", "testguest.elf"} {
		got, err1 := os.ReadFile(filepath.Join(out, "images", f))
		want, err2 := os.ReadFile(filepath.Join(root, "build", "guests", map[string]string{"Image": "linux/Image", "initramfs.cpio.gz": "linux/initramfs.cpio.gz", "testguest.elf": "testguest.elf"}[f]))
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("images/%s: %v %v", f, err1, err2)
		}
	}
	if _, err := os.Stat(filepath.Join(out, MarkerFile)); err != nil {
		t.Errorf("marker: %v", err)
	}
	// The bundle validates through an fs.FS, as the hypervisor reads it.
	if err := m.Validate(manifest.Limits{CPUs: 2, ImageSize: manifest.FSImageSize(os.DirFS(out))}).Err(); err != nil {
		t.Errorf("bundle does not validate: %v", err)
	}

	// A second bundle wipes the first, stale files included.
	stale := filepath.Join(out, "images", "stale")
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Bundle(path, out, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale file survived: %v", err)
	}
}

func TestBundleSharedImage(t *testing.T) {
	text := strings.ReplaceAll(twoVMs, "../build/guests/testguest.elf", "../build/guests/../guests/linux/Image")
	root, path := demoTree(t, text)
	out := filepath.Join(root, "out")
	if _, err := Bundle(path, out, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := readBundle(t, out).VM("testguest").Kernel; got != "images/Image" {
		t.Errorf("shared kernel bundled as %q", got)
	}
}

func TestBundleRefusals(t *testing.T) {
	cases := []struct {
		name  string
		text  string
		setup func(t *testing.T, root, out string)
		out   string // bundle dir relative to root, default "out"
		msg   string
	}{
		{name: "rejected VM", setup: func(t *testing.T, root, out string) { os.Remove(filepath.Join(root, "build/guests/testguest.elf")) },
			msg: "1 of 2 VMs rejected"},
		{name: "same base name, different files", text: strings.ReplaceAll(twoVMs, "../build/guests/testguest.elf", "../build/guests/Image"),
			setup: func(t *testing.T, root, out string) {
				os.WriteFile(filepath.Join(root, "build/guests/Image"), kernelImage(t, 8192), 0o644)
			}, msg: `two different images are both called "Image" in the bundle`},
		{name: "name go:embed would skip", text: strings.ReplaceAll(twoVMs, "../build/guests/testguest.elf", "../build/guests/_t.elf"),
			setup: func(t *testing.T, root, out string) {
				os.WriteFile(filepath.Join(root, "build/guests/_t.elf"), kernelImage(t, 4096), 0o644)
			}, msg: `base name "_t.elf" cannot go into a bundle`},
		{name: "foreign non-empty directory", setup: func(t *testing.T, root, out string) {
			os.MkdirAll(out, 0o755)
			os.WriteFile(filepath.Join(out, "precious"), []byte("keep me"), 0o644)
		}, msg: "refusing to wipe"},
		{name: "marker is a directory", setup: func(t *testing.T, root, out string) {
			os.MkdirAll(filepath.Join(out, MarkerFile), 0o755)
			os.WriteFile(filepath.Join(out, "precious"), []byte("keep me"), 0o644)
		}, msg: "refusing to wipe"},
		{name: "output is a file", setup: func(t *testing.T, root, out string) { os.WriteFile(out, []byte("keep me"), 0o644) },
			msg: "is not a directory"},
		{name: "output is a symlink", setup: func(t *testing.T, root, out string) { os.Symlink(filepath.Join(root, "build"), out) },
			msg: "is not a directory"},
		{name: "images inside the output", out: "build", setup: func(t *testing.T, root, out string) {
			os.WriteFile(filepath.Join(out, MarkerFile), nil, 0o644)
		}, msg: "is inside the bundle directory"},
		{name: "manifest inside the output", out: "examples", setup: func(t *testing.T, root, out string) {
			os.WriteFile(filepath.Join(out, MarkerFile), nil, 0o644)
		}, msg: "the manifest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.text
			if text == "" {
				text = twoVMs
			}
			root, path := demoTree(t, text)
			rel := tc.out
			if rel == "" {
				rel = "out"
			}
			out := filepath.Join(root, rel)
			tc.setup(t, root, out)
			before := snapshot(t, root)
			code, stdout, errOut := runTool("bundle", "-o", out, path)
			if code != 1 || stdout != "" || !strings.Contains(errOut, tc.msg) {
				t.Errorf("exit %d, stdout %q, stderr lacks %q:\n%s", code, stdout, tc.msg, errOut)
			}
			if after := snapshot(t, root); after != before {
				t.Errorf("the tree changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// snapshot lists every path under root with its content.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(p + " ")
		if d.Type().IsRegular() {
			data, _ := os.ReadFile(p)
			b.Write(data[:min(len(data), 16)])
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

// TestExamples keeps examples/ valid: the manifests parse and validate
// for a two-CPU qemu-virt-arm64 with its vGIC window reserved (images
// are not checked, they are build products).
func TestExamples(t *testing.T) {
	for _, name := range []string{"demo.json", "testguest.json"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		m, err := manifest.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rep := m.Validate(manifest.Limits{CPUs: 2, GuestRAM: 768 << 20,
			Reserved: []manifest.Window{{Name: "vgic", Base: 0x0800_0000, Size: 0x100_0000}}})
		if err := rep.Err(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
