// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

package qemu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// standInEnv, when set, makes the test binary run socketStandIn instead of
// the tests: it is then a stand-in for QEMU with a socket serial port.
const standInEnv = "QEMU_STANDIN_SOCKET"

func TestMain(m *testing.M) {
	if os.Getenv(standInEnv) != "" {
		os.Exit(socketStandIn(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// socketStandIn acts as QEMU with "-serial unix:PATH,server=on,...": it
// listens on PATH and serves clients one after another, as QEMU's socket
// chardev does. To client n it says "client n: connected to SPEC" and
// answers each line L (ended by "\r" or "\n") with "client n: L"; the line
// "quit" is answered with "client n: bye", then the stand-in prints
// "standin: quit" on stdout and exits with status 7.
func socketStandIn(args []string) int {
	var spec string
	for i, a := range args {
		if a == "-serial" && i+1 < len(args) {
			spec = args[i+1]
		}
	}
	path, _, _ := strings.Cut(strings.TrimPrefix(spec, "unix:"), ",")
	if !strings.HasPrefix(spec, "unix:") || path == "" {
		fmt.Fprintf(os.Stderr, "standin: no -serial unix:PATH in %q\n", args)
		return 2
	}
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "standin: %v\n", err)
		return 2
	}
	fmt.Fprintf(os.Stderr, "standin: waiting for connection on %s\n", spec)
	for n := 1; ; n++ {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "standin: %v\n", err)
			return 2
		}
		fmt.Fprintf(c, "client %d: connected to %s\r\n", n, spec)
		r := bufio.NewReader(c)
		var line []byte
		for {
			b, err := r.ReadByte()
			if err != nil {
				break
			}
			if b != '\r' && b != '\n' {
				line = append(line, b)
				continue
			}
			if len(line) == 0 {
				continue
			}
			if string(line) == "quit" {
				fmt.Fprintf(c, "client %d: bye\r\n", n)
				fmt.Println("standin: quit")
				return 7
			}
			fmt.Fprintf(c, "client %d: %s\r\n", n, line)
			line = line[:0]
		}
		c.Close()
	}
}

// startStandIn starts socketStandIn in socket mode on a new socket.
func startStandIn(t *testing.T, cfg Config) *Machine {
	t.Helper()
	t.Setenv(standInEnv, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Binary = exe
	if cfg.SerialSocket == "" {
		cfg.SerialSocket = SocketPath(t)
	}
	if cfg.LogPath == "" {
		cfg.LogPath = filepath.Join(t.TempDir(), "serial.log")
	}
	m, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestSerialSocket hands the serial socket from the harness to another
// client and back, as a test does with cmd/hvctl.
func TestSerialSocket(t *testing.T) {
	sock := SocketPath(t)
	spec := "unix:" + sock + ",server=on,wait=on"
	m := startStandIn(t, Config{SerialSocket: sock, Args: []string{"-serial", spec}})
	if m.SerialSocket() != sock {
		t.Errorf("SerialSocket = %q, want %q", m.SerialSocket(), sock)
	}
	// Start connected: client 1 is the harness.
	if sub, err := m.ExpectLine(`^client (\d+): connected to (.*)$`, 10*time.Second); err != nil || sub[1] != "1" || sub[2] != spec {
		t.Fatalf("ExpectLine connected: %q, %v", sub, err)
	}
	if err := m.Send("hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ExpectLine(`^client 1: hello$`, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// Detached, the harness neither sends nor sees output, and another
	// client has the console.
	if err := m.Detach(); err != nil {
		t.Fatal(err)
	}
	if err := m.Detach(); !errors.Is(err, ErrDetached) {
		t.Errorf("second Detach = %v, want ErrDetached", err)
	}
	if err := m.Send("lost"); !errors.Is(err, ErrDetached) {
		t.Errorf("Send while detached = %v, want ErrDetached", err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || line != "client 2: connected to "+spec+"\r\n" {
		t.Fatalf("second client greeting %q, %v", line, err)
	}
	if _, err := c.Write([]byte("ping\r")); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "client 2: ping\r\n" {
		t.Fatalf("second client reply %q, %v", line, err)
	}
	if _, err := m.Expect(`client`, 200*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("Expect while detached = %v, want ErrTimeout", err)
	}
	c.Close()

	// Attached again, as client 3.
	if err := m.Attach(); err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(); err == nil {
		t.Errorf("second Attach: no error")
	}
	if _, err := m.ExpectLine(`^client 3: connected to `, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := m.Send("again"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ExpectLine(`^client 3: again$`, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// The stand-in exiting still ends Expect, after the last socket output.
	if err := m.Send("quit"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ExpectLine(`^client 3: bye$`, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := m.Expect(`never`, 20*time.Second); !errors.Is(err, ErrExited) {
		t.Fatalf("Expect after quit = %v, want ErrExited", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Expect took %v after exit", d)
	}
	if code, err := m.Wait(5 * time.Second); err != nil || code != 7 {
		t.Errorf("Wait = %d, %v; want 7, nil", code, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Send("x"); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if err := m.Attach(); !errors.Is(err, ErrClosed) {
		t.Errorf("Attach after Close = %v, want ErrClosed", err)
	}

	b, err := os.ReadFile(m.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	order := []string{"client 1: hello\r\n", " detached serial ", " attached serial ", "client 3: again\r\n", "client 3: bye\r\n"}
	rest := log
	for _, want := range order {
		_, after, ok := strings.Cut(rest, want)
		if !ok {
			t.Errorf("log lacks %q in order %q:\n%s", want, order, log)
			break
		}
		rest = after
	}
	for _, want := range []string{"standin: quit\n", stderrPrefix + "standin: waiting for connection on " + spec + "\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "client 2") {
		t.Errorf("log shows the other client's session:\n%s", log)
	}
}

// TestSerialSocketBoardArgs checks the chardev spec Start gives the board's
// command line in socket mode, and Close while attached.
func TestSerialSocketBoardArgs(t *testing.T) {
	b, _ := Lookup(VirtARM64)
	sock := SocketPath(t)
	m := startStandIn(t, Config{Board: b, Image: "img.elf", SerialSocket: sock})
	spec := "unix:" + sock + ",server=on,wait=on"
	if sub, err := m.ExpectLine(`^client 1: connected to (.*)$`, 10*time.Second); err != nil || sub[1] != spec {
		t.Fatalf("ExpectLine connected: %q, %v; want spec %q", sub, err, spec)
	}
	start := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if _, err := m.Expect("x", time.Second); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrExited) {
		t.Errorf("Expect after Close: %v", err)
	}
	if err := m.Detach(); !errors.Is(err, ErrClosed) {
		t.Errorf("Detach after Close: %v", err)
	}
}

func TestSerialSocketErrors(t *testing.T) {
	m, _ := startSh(t, t.Context(), 0, `exec sleep 100`)
	if err := m.Detach(); !errors.Is(err, ErrNoSocket) {
		t.Errorf("Detach in stdio mode = %v, want ErrNoSocket", err)
	}
	if err := m.Attach(); !errors.Is(err, ErrNoSocket) {
		t.Errorf("Attach in stdio mode = %v, want ErrNoSocket", err)
	}
	if m.SerialSocket() != "" {
		t.Errorf("SerialSocket in stdio mode = %q", m.SerialSocket())
	}

	// A QEMU that exits without listening fails Start at once.
	start := time.Now()
	_, err := Start(t.Context(), Config{Binary: "/bin/sh", Args: []string{"-c", "echo cannot bind >&2; exit 1"}, SerialSocket: SocketPath(t)})
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "cannot bind") {
		t.Errorf("Start without a listener = %v, want ErrExited with stderr", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failed Start took %v", d)
	}

	long := filepath.Join(t.TempDir(), strings.Repeat("x", sunPathLen), "serial.sock")
	if _, err := Start(t.Context(), Config{Binary: "/bin/true", Args: []string{}, SerialSocket: long}); err == nil || !strings.Contains(err.Error(), "SocketPath") {
		t.Errorf("Start with a long socket path = %v", err)
	}
	if p := SocketPath(t); len(p) >= sunPathLen {
		t.Errorf("SocketPath = %q is too long", p)
	}
}

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
