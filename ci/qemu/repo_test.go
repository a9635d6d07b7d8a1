// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

package qemu

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"TestBoot":                        "TestBoot",
		"TestBoot/qemu-virt-arm64":        "TestBoot_qemu-virt-arm64",
		"TestBoot/qemu-virt-arm64-secure": "TestBoot_qemu-virt-arm64-secure",
		"TestX/a/b\\c d\te\x00":           "TestX_a_b_c_d_e_",
		"..":                              "___",
		"":                                "_",
	} {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLogPath(t *testing.T) {
	got := LogPath("/repo", "TestBoot/qemu-q35-amd64")
	if want := "/repo/build/logs/TestBoot_qemu-q35-amd64.log"; got != want {
		t.Errorf("LogPath = %q, want %q", got, want)
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "module github.com/tamavisor/tamavisor") {
		t.Errorf("%s/go.mod is not tamavisor's", root)
	}
}

func TestImagePath(t *testing.T) {
	if got := ImageEnv(VirtARM64); got != "TAMAVISOR_IMAGE_QEMU_VIRT_ARM64" {
		t.Errorf("ImageEnv = %q", got)
	}
	t.Setenv(ImageEnv(Q35AMD64), "")
	if got, want := ImagePath("/r", Q35AMD64), "/r/build/qemu-q35-amd64/tamavisor.elf"; got != want {
		t.Errorf("ImagePath = %q, want %q", got, want)
	}
	t.Setenv(ImageEnv(Q35AMD64), "/images/x.elf")
	if got := ImagePath("/r", Q35AMD64); got != "/images/x.elf" {
		t.Errorf("ImagePath with absolute override = %q", got)
	}
	t.Setenv(ImageEnv(Q35AMD64), "out/x.elf")
	if got := ImagePath("/r", Q35AMD64); got != "/r/out/x.elf" {
		t.Errorf("ImagePath with relative override = %q", got)
	}
}

func TestPreflight(t *testing.T) {
	b, _ := Lookup(VirtARM64)
	t.Setenv(ImageEnv(b.Name), filepath.Join(t.TempDir(), "missing.elf"))
	if _, err := Preflight(b); !errors.Is(err, ErrNoImage) && !errors.Is(err, ErrNoQEMU) {
		t.Errorf("missing image: err = %v", err)
	}
	b.QEMU = "qemu-system-does-not-exist"
	if _, err := Preflight(b); !errors.Is(err, ErrNoQEMU) {
		t.Errorf("missing QEMU: err = %v, want ErrNoQEMU", err)
	}
}
