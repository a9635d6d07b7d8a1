// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

package qemu

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Errors of Preflight.
var (
	// ErrNoRepo means no go.mod was found above the working directory.
	ErrNoRepo = errors.New("qemu: repository root not found")
	// ErrNoQEMU means the board's QEMU binary is not in PATH.
	ErrNoQEMU = errors.New("qemu: emulator not found")
	// ErrNoImage means the board's image file does not exist.
	ErrNoImage = errors.New("qemu: image not found")
)

// RepoRoot returns the repository root: the nearest directory at or above
// the working directory that contains go.mod. Under "go test" the working
// directory is the package directory, so this is the module root.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoRepo, err)
	}
	for dir := wd; ; {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod at or above %s", ErrNoRepo, wd)
		}
		dir = parent
	}
}

// SanitizeName turns a test name such as "TestBoot/qemu-virt-arm64" into a
// file name ("TestBoot_qemu-virt-arm64"): path separators, white space and
// control characters become '_'.
func SanitizeName(name string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r == '/', r == '\\', r <= ' ', r == 0x7f:
			return '_'
		}
		return r
	}, name)
	if s == "" || s == "." || s == ".." {
		s = strings.Repeat("_", len(s)+1)
	}
	return s
}

// LogPath returns where the serial log of test testName goes:
// <root>/build/logs/<sanitized name>.log.
func LogPath(root, testName string) string {
	return filepath.Join(root, "build", "logs", SanitizeName(testName)+".log")
}

// ImageEnv returns the environment variable that overrides the image path
// of board: TAMAVISOR_IMAGE_ followed by the board name in upper case with
// '-' replaced by '_', e.g. TAMAVISOR_IMAGE_QEMU_VIRT_ARM64.
func ImageEnv(board string) string {
	return "TAMAVISOR_IMAGE_" + strings.ToUpper(strings.ReplaceAll(board, "-", "_"))
}

// ImagePath returns the image of board: the value of ImageEnv(board) if set,
// else <root>/build/<board>/tamavisor.elf. A relative override is taken
// relative to root.
func ImagePath(root, board string) string {
	if p := os.Getenv(ImageEnv(board)); p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		return p
	}
	return filepath.Join(root, "build", board, "tamavisor.elf")
}

// Preflight checks that b can be booted on this host. It returns the image
// path, and an error wrapping ErrNoRepo, ErrNoQEMU or ErrNoImage whose text
// is one line saying what is missing and how to provide it.
func Preflight(b Board) (image string, err error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	image = ImagePath(root, b.Name)
	if b.ImageFile != "" {
		image = filepath.Join(root, b.ImageFile)
	}
	if _, err := exec.LookPath(b.QEMU); err != nil {
		return image, fmt.Errorf("%w: %s is not in PATH", ErrNoQEMU, b.QEMU)
	}
	if b.Firmware != "" {
		if _, err := os.Stat(b.Firmware); err != nil {
			return image, fmt.Errorf("%w: firmware %s: %v (make deps installs it)", ErrNoQEMU, b.Firmware, err)
		}
	}
	fi, err := os.Stat(image)
	switch {
	case err != nil && errors.Is(err, os.ErrNotExist):
		return image, fmt.Errorf("%w: %s does not exist (build it, or set %s)", ErrNoImage, image, ImageEnv(b.Name))
	case err != nil:
		return image, fmt.Errorf("%w: %w", ErrNoImage, err)
	case !fi.Mode().IsRegular():
		return image, fmt.Errorf("%w: %s is not a regular file", ErrNoImage, image)
	}
	return image, nil
}
