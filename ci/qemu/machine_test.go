// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSh runs script under /bin/sh as a stand-in for QEMU.
func startSh(t *testing.T, ctx context.Context, limit time.Duration, script string) (*Machine, string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "serial.log")
	m, err := Start(ctx, Config{
		Binary:  "/bin/sh",
		Args:    []string{"-c", script},
		Limit:   limit,
		LogPath: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, log
}

func TestExpectSend(t *testing.T) {
	m, _ := startSh(t, t.Context(), 0, `echo hello; x=$(head -c 4); printf 'got:%s|\n' "$x"; echo tail-marker; exec sleep 100`)
	if sub, err := m.Expect(`hel+o`, 5*time.Second); err != nil || sub[0] != "hello" {
		t.Fatalf("Expect hello: %q, %v", sub, err)
	}
	if err := m.Send("xyz"); err != nil { // head -c 4 reads "xyz\r"
		t.Fatal(err)
	}
	sub, err := m.Expect(`got:(\w+)\r\|`, 5*time.Second)
	if err != nil || sub[1] != "xyz" {
		t.Fatalf("Expect got: %q, %v", sub, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(m.Tail(), "tail-marker") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}

	start := time.Now()
	_, err = m.Expect(`never`, 200*time.Millisecond)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Expect never: err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("timeout took %v", d)
	}
	if msg := err.Error(); !strings.Contains(msg, "tail-marker") || strings.Contains(msg, "hello") {
		t.Errorf("timeout error should show the unconsumed tail only: %v", err)
	}

	// The timeout consumed nothing.
	if sub, err := m.ExpectLine(`^tail-(\w+)$`, time.Second); err != nil || sub[1] != "marker" {
		t.Fatalf("ExpectLine: %q, %v", sub, err)
	}
	if tail := m.Tail(); tail != "" {
		t.Errorf("Tail after consuming everything = %q", tail)
	}
}

func TestExpectLineWaitsForLineEnd(t *testing.T) {
	m, _ := startSh(t, t.Context(), 0, `printf 'echo\r\n{"a":{"b":1}'; sleep 0.3; printf ',"c":2}\r\nnext\r\n'; exec sleep 100`)
	sub, err := m.ExpectLine(`^\{.*\}$`, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":{"b":1},"c":2}`; sub[0] != want {
		t.Errorf("ExpectLine = %q, want %q", sub[0], want)
	}
	if sub, err := m.ExpectLine(`^next$`, time.Second); err != nil || sub[0] != "next" {
		t.Errorf("ExpectLine next: %q, %v", sub, err)
	}
}

func TestExitEndsExpect(t *testing.T) {
	m, _ := startSh(t, t.Context(), 0, `echo bye; echo oops >&2; exit 3`)
	start := time.Now()
	_, err := m.Expect(`never`, 20*time.Second)
	if !errors.Is(err, ErrExited) {
		t.Fatalf("err = %v, want ErrExited", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Expect took %v after exit", d)
	}
	if !strings.Contains(err.Error(), "bye") || !strings.Contains(err.Error(), "oops") {
		t.Errorf("error should show output and stderr: %v", err)
	}
	code, err := m.Wait(5 * time.Second)
	if err != nil || code != 3 {
		t.Errorf("Wait = %d, %v; want 3, nil", code, err)
	}
	if code, err := m.Wait(time.Second); err != nil || code != 3 {
		t.Errorf("second Wait = %d, %v", code, err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close after exit: %v", err)
	}
}

func TestWaitTimeout(t *testing.T) {
	m, _ := startSh(t, t.Context(), 0, `echo up; exec sleep 100`)
	_, err := m.Wait(100 * time.Millisecond)
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("Wait = %v, want ErrTimeout", err)
	}
}

func TestLimitKills(t *testing.T) {
	const limit = 500 * time.Millisecond
	m, log := startSh(t, t.Context(), limit, `echo started; sleep 100; echo never`)
	start := time.Now()
	if _, err := m.Expect(`started`, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_, err := m.Wait(20 * time.Second)
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("Wait = %v, want ErrLimit", err)
	}
	if d := time.Since(start); d > limit+3*time.Second {
		t.Errorf("limit %v killed after %v", limit, d)
	}
	// The log was written as the output came, not at Close.
	b, err := os.ReadFile(log)
	if err != nil || !bytes.Contains(b, []byte("started\n")) {
		t.Errorf("log before Close: %q, %v", b, err)
	}
	waitGroupDead(t, m.PID())
}

func TestContextKills(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	m, _ := startSh(t, ctx, 0, `echo started; exec sleep 100`)
	if _, err := m.Expect(`started`, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := m.Wait(5 * time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
}

func TestCloseKillsGroup(t *testing.T) {
	m, log := startSh(t, t.Context(), 0, `sleep 100 & sleep 100 & echo ready; wait`)
	if _, err := m.Expect(`ready`, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	pgid := m.PID()
	if err := syscall.Kill(-pgid, 0); err != nil {
		t.Fatalf("process group %d not running: %v", pgid, err)
	}
	start := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	waitGroupDead(t, pgid)

	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := m.Send("x"); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if _, err := m.Expect("x", time.Second); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrExited) {
		t.Errorf("Expect after Close: %v", err)
	}
	if _, err := m.Wait(time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close: %v", err)
	}
	b, _ := os.ReadFile(log)
	if !bytes.Contains(b, []byte("ready\n")) || !bytes.Contains(b, []byte(" end after ")) {
		t.Errorf("log = %q", b)
	}
}

// waitGroupDead waits until no live process is left in process group pgid.
// Processes orphaned by the kill are reparented to PID 1, which in some
// containers never reaps them; a zombie still counts for kill(2), so the
// check also accepts a group whose members are all zombies.
func waitGroupDead(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		live := liveInGroup(pgid)
		if live == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has live processes %v (kill: %v)", pgid, live, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveInGroup lists the pids of non-zombie processes in group pgid.
func liveInGroup(pgid int) []string {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var live []string
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[2] != fmt.Sprint(pgid) || f[0] == "Z" || f[0] == "X" {
			continue
		}
		live = append(live, filepath.Base(filepath.Dir(p)))
	}
	return live
}

func TestLogFile(t *testing.T) {
	m, log := startSh(t, t.Context(), 0, `echo out1; echo err1 >&2; sleep 0.1; printf partial; sleep 0.1; printf 'err2\nerr3' >&2; sleep 0.1; echo; exit 0`)
	if code, err := m.Wait(5 * time.Second); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"out1\n", "\n[qemu stderr] err1\n", "partial\n", "\n[qemu stderr] err2\n", "\n[qemu stderr] err3\n", "=== "} {
		if !strings.Contains(s, want) {
			t.Errorf("log lacks %q:\n%s", want, s)
		}
	}
	// stdout and stderr are separate pipes, so their order in the log can
	// differ from the order of the writes; each stderr line must still be
	// a line of its own.
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, "err") && !strings.HasPrefix(line, stderrPrefix) && !strings.HasPrefix(line, "=== ") {
			t.Errorf("stderr not on a line of its own: %q", line)
		}
	}
}

func TestLogAppend(t *testing.T) {
	log := filepath.Join(t.TempDir(), "a.log")
	for i, trunc := range []bool{true, false} {
		m, err := Start(t.Context(), Config{Binary: "/bin/sh", Args: []string{"-c", fmt.Sprintf("echo run%d", i)}, LogPath: log, LogTruncate: trunc})
		if err != nil {
			t.Fatal(err)
		}
		m.Wait(5 * time.Second)
		m.Close()
	}
	b, _ := os.ReadFile(log)
	if !bytes.Contains(b, []byte("run0\n")) || !bytes.Contains(b, []byte("run1\n")) {
		t.Errorf("log = %q", b)
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(t.Context(), Config{Binary: "no-such-qemu-binary", Args: []string{}}); !errors.Is(err, ErrNoQEMU) {
		t.Errorf("missing binary: %v", err)
	}
	if _, err := Start(t.Context(), Config{}); !errors.Is(err, ErrNoQEMU) {
		t.Errorf("empty config: %v", err)
	}
	b, _ := Lookup(Q35AMD64)
	b.QEMU = "/bin/sh"
	if _, err := Start(t.Context(), Config{Board: b}); !errors.Is(err, ErrNoImage) {
		t.Errorf("no image: %v", err)
	}
	if _, err := Start(t.Context(), Config{Binary: "/bin/true", Args: []string{}, LogPath: "/proc/none/x.log"}); err == nil {
		t.Errorf("unwritable log: no error")
	}
}

// fakeTB records Skipf and Fatalf instead of reporting them.
type fakeTB struct {
	*testing.T
	skipped, failed string
}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func runBoot(t *testing.T, board string, opts Options) *fakeTB {
	f := &fakeTB{T: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Boot(f, board, opts)
	}()
	<-done
	return f
}

func TestBootSkipsWithoutImage(t *testing.T) {
	t.Setenv(ImageEnv(VirtARM64), filepath.Join(t.TempDir(), "missing.elf"))
	t.Setenv(RequireEnv, "")
	f := runBoot(t, VirtARM64, Options{Secure: true})
	if !strings.HasPrefix(f.skipped, "SKIP "+VirtARM64+"+secure: ") || strings.Contains(f.skipped, "\n") || f.failed != "" {
		t.Errorf("skip = %q, fail = %q", f.skipped, f.failed)
	}
	t.Logf("skip line: %s", f.skipped)

	t.Setenv(RequireEnv, "1")
	f = runBoot(t, VirtARM64, Options{})
	if f.failed == "" || f.skipped != "" || !strings.Contains(f.failed, RequireEnv) {
		t.Errorf("with %s=1: skip = %q, fail = %q", RequireEnv, f.skipped, f.failed)
	}

	if f := runBoot(t, "no-such-board", Options{}); !strings.Contains(f.failed, "unknown board") {
		t.Errorf("unknown board: fail = %q", f.failed)
	}
	if f := runBoot(t, Q35AMD64, Options{Secure: true}); !strings.Contains(f.failed, "secure") {
		t.Errorf("q35 secure: fail = %q", f.failed)
	}
}

// TestBootStandIn boots a fake qemu-system-aarch64 from PATH, checking the
// arguments Boot passes and the log location.
func TestBootStandIn(t *testing.T) {
	dir := t.TempDir()
	fake := "#!/bin/sh\necho \"fake-qemu $*\"\nexec sleep 100\n"
	if err := os.WriteFile(filepath.Join(dir, "qemu-system-aarch64"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(dir, "tamavisor.elf")
	if err := os.WriteFile(image, []byte("\x7fELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv(ImageEnv(VirtARM64), image)

	m := Boot(t, VirtARM64, Options{Secure: true, Limit: 10 * time.Second})
	sub, err := m.ExpectLine(`^fake-qemu (.*)$`, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Lookup(VirtARM64)
	b, _ = b.With(Options{Secure: true})
	if want := strings.Join(b.Args(image, "stdio"), " "); sub[1] != want {
		t.Errorf("args = %q, want %q", sub[1], want)
	}
	root, _ := RepoRoot()
	if want := filepath.Join(root, "build", "logs", "TestBootStandIn.log"); m.LogPath() != want {
		t.Errorf("LogPath = %q, want %q", m.LogPath(), want)
	}
}
