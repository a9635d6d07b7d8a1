// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

package qemu

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// RequireEnv names the environment variable that turns a missing image or
// QEMU binary from a skip into a failure, for "make check" once images are
// built: TAMAVISOR_REQUIRE_IMAGES=1.
const RequireEnv = "TAMAVISOR_REQUIRE_IMAGES"

// RequireImages reports whether RequireEnv is set to a true value
// ("1", "true", ...).
func RequireImages() bool {
	v, err := strconv.ParseBool(os.Getenv(RequireEnv))
	return err == nil && v
}

// logsSeen holds the log files Boot has used in this process: the first
// boot of a test truncates its log, later boots of the same test append.
var logsSeen sync.Map

// Boot starts board, changed by opts, for test t, with the serial log in
// build/logs/<test name>.log under the repository root.
//
// The image is build/<board>/tamavisor.elf under the repository root, or
// the file named by ImageEnv(board). If QEMU or the image is missing, Boot
// calls t.Skipf with one line, "SKIP <board>: <reason>", or t.Fatalf if
// RequireImages() is true. Any other problem is t.Fatalf.
//
// Boot registers Machine.Close with t.Cleanup, so QEMU is killed when the
// test ends however it ends (return, t.Fatal, panic), and QEMU is also
// killed when t.Context() is cancelled. If the test failed, the cleanup logs
// the last lines of the serial log.
//
// With opts.SerialSocket the serial console is that unix socket (see
// Config.SerialSocket), so the test can hand it to a host tool with
// Machine.Detach and take it back with Machine.Attach.
func Boot(t testing.TB, board string, opts Options) *Machine {
	t.Helper()
	b, err := Lookup(board)
	if err != nil {
		t.Fatalf("%v", err)
	}
	b, err = b.With(opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	image, err := Preflight(b)
	switch {
	case err == nil:
	case (errors.Is(err, ErrNoQEMU) || errors.Is(err, ErrNoImage)) && !RequireImages():
		t.Skipf("SKIP %s: %v", b.Variant(), err)
	case errors.Is(err, ErrNoQEMU) || errors.Is(err, ErrNoImage):
		t.Fatalf("FAIL %s: %v (%s is set)", b.Variant(), err, RequireEnv)
	default:
		t.Fatalf("%s: %v", b.Variant(), err)
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("%v", err)
	}
	logPath := LogPath(root, t.Name())
	_, seen := logsSeen.LoadOrStore(logPath, true)

	m, err := Start(t.Context(), Config{
		Board:        b,
		Image:        image,
		Limit:        opts.Limit,
		LogPath:      logPath,
		LogTruncate:  !seen,
		SerialSocket: opts.SerialSocket,
	})
	if err != nil {
		t.Fatalf("%s: %v", b.Variant(), err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("%s: %v", b.Variant(), err)
		}
		if t.Failed() {
			t.Logf("%s: serial log %s ends with:\n%s", b.Variant(), logPath, logTail(logPath, 2048))
		}
	})
	if m.SerialSocket() != "" {
		t.Logf("%s: qemu pid %d, image %s, serial log %s, serial socket %s", b.Variant(), m.PID(), image, logPath, m.SerialSocket())
	} else {
		t.Logf("%s: qemu pid %d, image %s, serial log %s", b.Variant(), m.PID(), image, logPath)
	}
	return m
}

// SocketPath returns a path for Options.SerialSocket (or
// Config.SerialSocket), serial.sock in a new directory under the system's
// temporary directory, which t.Cleanup removes. A unix socket path must
// fit in sockaddr_un.sun_path (107 bytes and a NUL on Linux, unix(7)),
// which paths under t.TempDir, named after the test, can exceed; a
// $TMPDIR too long for it fails the test.
func SocketPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tv")
	if err != nil {
		t.Fatalf("qemu: socket directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "serial.sock")
	if len(path) >= sunPathLen {
		t.Fatalf("qemu: socket path %s is too long for a unix socket address (set TMPDIR shorter)", path)
	}
	return path
}

// logTail returns about the last n bytes of the file at path, from a line
// start, with carriage returns removed.
func logTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(fi.Size()-n, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return err.Error()
	}
	s := string(b)
	if off > 0 {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return strings.ReplaceAll(s, "\r", "")
}
