// cmd/hvctl: host-side control of a running tamavisor over its serial console.
// SPDX-License-Identifier: BSD-3-Clause

package console_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tamavisor/tamavisor/cmd/hvctl/console"
	"github.com/tamavisor/tamavisor/cmd/hvctl/internal/fakehv"
	"github.com/tamavisor/tamavisor/hotpatch"
	"github.com/tamavisor/tamavisor/hv/shell"
)

const testTimeout = 3 * time.Second

func dial(t *testing.T, s *fakehv.Server) *console.Conn {
	t.Helper()
	c, err := console.Dial(s.Spec, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// payload returns n pseudo-random bytes, the same for each seed.
func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestParseSpec(t *testing.T) {
	for _, c := range []struct{ spec, network, addr string }{
		{"unix:build/tv.sock", "unix", "build/tv.sock"},
		{"unix:build/tv.sock,server=on,wait=off", "unix", "build/tv.sock"},
		{"/nonexistent/tv.sock", "unix", "/nonexistent/tv.sock"},
		{"./tv.sock", "unix", "./tv.sock"},
		{"tcp:localhost:4444", "tcp", "localhost:4444"},
		{"tcp:127.0.0.1:4444,server=on,wait=off", "tcp", "127.0.0.1:4444"},
	} {
		n, a, err := console.ParseSpec(c.spec)
		if err != nil || n != c.network || a != c.addr {
			t.Errorf("ParseSpec(%q) = %q, %q, %v; want %q, %q", c.spec, n, a, err, c.network, c.addr)
		}
	}
	for _, spec := range []string{"", "stdio", "unix:", "tcp:localhost", "tcp:", "tv.sock", "pty"} {
		if _, _, err := console.ParseSpec(spec); !errors.Is(err, console.ErrSpec) {
			t.Errorf("ParseSpec(%q): %v, want ErrSpec", spec, err)
		}
	}
}

func TestRun(t *testing.T) {
	for _, o := range []struct {
		name string
		opt  fakehv.Options
	}{
		{"echo", fakehv.Options{}},
		{"noecho", fakehv.Options{NoEcho: true}},
	} {
		t.Run(o.name, func(t *testing.T) {
			s := fakehv.Start(t, o.opt)
			c := dial(t, s)
			out, err := c.Run("help patch")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(out, "  patch list [START [NR]]") || strings.Contains(out, shell.Prompt) || strings.Contains(out, "\r") {
				t.Errorf("help patch: %q", out)
			}
			// An error of the shell: the output and a RemoteError.
			out, err = c.Run("nosuch")
			var re *console.RemoteError
			if !errors.As(err, &re) || re.Msg != `unknown command "nosuch" (try help)` || out != "error: "+re.Msg {
				t.Errorf("nosuch: %q, %v", out, err)
			}
			// --json, by hand.
			out, err = c.Run("patch list --json")
			if err != nil || out != `{"version":1,"remaining":0,"patches":[]}` {
				t.Errorf("patch list --json: %q, %v", out, err)
			}
			// The Conn stays usable after errors.
			if _, err := c.Run("help"); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRunRefuses(t *testing.T) {
	s := fakehv.Start(t, fakehv.Options{})
	c := dial(t, s)
	for _, cmd := range []string{"", "  ", "help\nhelp", "help\x03", strings.Repeat("x", shell.MaxLine+1), "vm console linux"} {
		if _, err := c.Run(cmd); !errors.Is(err, console.ErrCommand) {
			t.Errorf("Run(%.20q): %v, want ErrCommand", cmd, err)
		}
	}
}

func TestPatchLifecycle(t *testing.T) {
	s := fakehv.Start(t, fakehv.Options{})
	s.Engine.SetDelay(50 * time.Millisecond)
	c := dial(t, s)

	raw := payload(5000, 1) // 28 base64 lines
	st, err := c.Upload("fix-1", raw)
	if err != nil {
		t.Fatal(err)
	}
	if st.String() != "fix-1: LOADED rc=OK" || !strings.HasPrefix(string(st.Raw), `{"name":"fix-1"`) {
		t.Errorf("upload: %v %s", st, st.Raw)
	}
	if _, err := c.Upload("fix-1", raw); err == nil || !strings.Contains(err.Error(), "EEXIST") {
		t.Errorf("second upload: %v", err)
	}
	// An exact multiple of a line, and a one-byte payload.
	for i, n := range []int{180 * 3, 1} {
		name := fmt.Sprintf("size-%d", n)
		if st, err := c.Upload(name, payload(n, uint64(i+10))); err != nil || st.State != "LOADED" {
			t.Errorf("upload %s: %v, %v", name, st, err)
		}
	}

	st, err = c.Action("check", "fix-1", console.ActionOptions{Wait: true})
	if err != nil || st.String() != "fix-1: CHECKED rc=OK" {
		t.Errorf("check --wait: %v, %v", st, err)
	}
	st, err = c.Action("apply", "fix-1", console.ActionOptions{Wait: true, TimeoutMS: 100})
	if err != nil || st.String() != "fix-1: APPLIED rc=OK" {
		t.Errorf("apply --wait: %v, %v", st, err)
	}
	// Without Wait: pending, then Wait polls.
	st, err = c.Action("revert", "fix-1", console.ActionOptions{})
	if err != nil || !st.RC.Pending() || st.RC.String() != "EAGAIN" {
		t.Errorf("revert: %v, %v (want rc=EAGAIN)", st, err)
	}
	st, err = c.Wait("fix-1")
	if err != nil || st.String() != "fix-1: CHECKED rc=OK" {
		t.Errorf("wait: %v, %v", st, err)
	}

	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range l.Patches {
		names = append(names, p.Name+"="+p.State)
	}
	if l.Version != 4 || strings.Join(names, " ") != "fix-1=CHECKED size-540=LOADED size-1=LOADED" {
		t.Errorf("list: version %d, %v", l.Version, names)
	}
	st, err = c.Action("unload", "size-1", console.ActionOptions{Wait: true})
	if err != nil || st.String() != "size-1: unloaded" {
		t.Errorf("unload: %v, %v", st, err)
	}
	if _, err := c.Get("size-1"); err == nil || !strings.Contains(err.Error(), "ENOENT") {
		t.Errorf("get after unload: %v", err)
	}
}

func TestListPages(t *testing.T) {
	s := fakehv.Start(t, fakehv.Options{})
	n := hotpatch.MaxListNr + 6
	for i := range n {
		if err := s.Manager.Upload(fmt.Sprintf("p%03d", i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	c := dial(t, s)
	l, err := c.List()
	if err != nil || len(l.Patches) != n || l.Patches[n-1].Name != fmt.Sprintf("p%03d", n-1) {
		t.Fatalf("list of %d: %d entries, %v", n, len(l.Patches), err)
	}
}

func TestActionFails(t *testing.T) {
	s := fakehv.Start(t, fakehv.Options{})
	c := dial(t, s)
	if _, err := c.Upload("nosys", []byte("payload NOSYS")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Action("check", "nosys", console.ActionOptions{Wait: true}); err != nil {
		t.Fatal(err)
	}
	st, err := c.Action("apply", "nosys", console.ActionOptions{Wait: true})
	var ae *console.ActionError
	if !errors.As(err, &ae) || st.State != "CHECKED" || st.RC.String() != "ENOSYS" ||
		!strings.Contains(err.Error(), "patch apply nosys: CHECKED rc=ENOSYS: hotpatch:") {
		t.Errorf("apply: %v, %v", st, err)
	}
	// Refused at once: the shell's error.
	_, err = c.Action("revert", "nosys", console.ActionOptions{Wait: true})
	var re *console.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "not allowed in state CHECKED") || !strings.HasSuffix(re.Msg, "(EINVAL)") {
		t.Errorf("revert: %v", err)
	}
	_, err = c.Get("nosuch")
	if !errors.As(err, &re) || re.Msg != `hotpatch: no payload "nosuch" (ENOENT)` {
		t.Errorf("get nosuch: %v", err)
	}
	if _, err := c.Action("frobnicate", "x", console.ActionOptions{}); !errors.Is(err, console.ErrCommand) {
		t.Errorf("frobnicate: %v", err)
	}
	if _, err := c.Get("--json"); !errors.Is(err, console.ErrCommand) {
		t.Errorf("get --json: %v", err)
	}
}

func TestUploadRefused(t *testing.T) {
	s := fakehv.Start(t, fakehv.Options{})
	c := dial(t, s)
	var re *console.RemoteError

	// Refused by the engine after the transfer.
	_, err := c.Upload("badsig", append([]byte("BADSIG"), payload(1000, 2)...))
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "EPERM") {
		t.Errorf("bad signature: %v", err)
	}
	// Refused before the transfer.
	_, err = c.Upload(strings.Repeat("n", 129), []byte("x"))
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "ENAMETOOLONG") {
		t.Errorf("long name: %v", err)
	}
	_, err = c.Upload("huge", make([]byte, hotpatch.UploadMax+1))
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "SIZE") {
		t.Errorf("huge: %v", err)
	}

	// A multi-line payload whose SHA-256 does not match.
	raw := payload(4000, 3)
	sum := sha256.Sum256(raw)
	sum[0] ^= 1
	_, err = c.UploadFrom("badsum", bytes.NewReader(raw), len(raw), sum)
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "does not match") || !strings.Contains(re.Msg, "nothing stored") {
		t.Errorf("bad sha: %v", err)
	}

	// Aborted: the reader fails half-way.
	_, err = c.UploadFrom("aborted", io.MultiReader(bytes.NewReader(raw[:2000]), errReader{}), len(raw), sha256.Sum256(raw))
	if !errors.Is(err, errBroken) || !strings.Contains(err.Error(), "aborted by an empty line") {
		t.Errorf("aborted: %v", err)
	}
	// Short: the reader ends early.
	_, err = c.UploadFrom("short", bytes.NewReader(raw[:100]), len(raw), sha256.Sum256(raw))
	if err == nil || !strings.Contains(err.Error(), "100 of 4000 bytes") {
		t.Errorf("short: %v", err)
	}

	// Nothing was stored, and the shell still answers.
	l, err := c.List()
	if err != nil || len(l.Patches) != 0 {
		t.Errorf("list: %v, %v", l, err)
	}
	if st, err := c.Upload("good", raw); err != nil || st.State != "LOADED" {
		t.Errorf("good: %v, %v", st, err)
	}
}

var errBroken = errors.New("disk on fire")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

func TestJunk(t *testing.T) {
	s := fakehv.Start(t, fakehv.Options{Junk: time.Millisecond})
	s.Engine.SetDelay(20 * time.Millisecond)
	c := dial(t, s)
	var transcript bytes.Buffer
	c.SetTranscript(&transcript)
	for i := range 5 {
		name := fmt.Sprintf("p%d", i)
		st, err := c.Upload(name, payload(3000, uint64(i)))
		if err != nil || st.String() != name+": LOADED rc=OK" {
			t.Fatalf("upload %s: %v, %v", name, st, err)
		}
		if st, err := c.Action("check", name, console.ActionOptions{Wait: true}); err != nil || st.State != "CHECKED" {
			t.Fatalf("check %s: %v, %v", name, st, err)
		}
		if _, err := c.Get("nosuch"); err == nil || !strings.Contains(err.Error(), "ENOENT") {
			t.Fatalf("get nosuch: %v", err)
		}
	}
	l, err := c.List()
	if err != nil || len(l.Patches) != 5 {
		t.Fatalf("list: %v, %v", l, err)
	}
	out, err := c.Run("help patch")
	if err != nil || !strings.Contains(out, "patch list [START [NR]]") {
		t.Errorf("help patch: %q, %v", out, err)
	}
	c.Close() // the transcript is complete
	if n := strings.Count(transcript.String(), "tamavisor: vm 1: log line"); n < 10 {
		t.Errorf("only %d junk lines were interleaved", n)
	}
}

func TestQuote(t *testing.T) {
	for _, w := range []string{"fix-1", "my fix", "it's", `say "hi"`, `it's "a\b"`, "", "tab\there"} {
		q := console.Quote(w)
		got, err := shell.Split(q)
		if err != nil || len(got) != 1 || got[0] != w {
			t.Errorf("Quote(%q) = %s, which splits to %q, %v", w, q, got, err)
		}
	}
	// End to end: a payload name with a space and quotes.
	s := fakehv.Start(t, fakehv.Options{})
	c := dial(t, s)
	name := `my "odd" fix's name`
	if st, err := c.Upload(name, []byte("x")); err != nil || st.Name != name {
		t.Fatalf("upload: %v, %v", st, err)
	}
	if st, err := c.Get(name); err != nil || st.Name != name || st.State != "LOADED" {
		t.Errorf("get: %v, %v", st, err)
	}
}

// TestStaleState: a client that died half-way through an upload, or left
// half a line typed, does not confuse the next one.
func TestStaleState(t *testing.T) {
	s := fakehv.Start(t, fakehv.Options{})
	nc, err := net.Dial("unix", s.Path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("x"))
	fmt.Fprintf(nc, "patch upload stale 5000 %x\nAAAA\nAAAAAAAA", sum) // mid-line
	time.Sleep(50 * time.Millisecond)

	c, err := console.New(nc, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if l, err := c.List(); err != nil || len(l.Patches) != 0 {
		t.Errorf("list: %v, %v", l, err)
	}
	if _, err := c.Run("patch get stale"); err == nil || !strings.Contains(err.Error(), "ENOENT") {
		t.Errorf("get stale: %v", err)
	}
}

// TestSyncResend: the sync line is sent again while the shell does not
// read its input yet.
func TestSyncResend(t *testing.T) {
	s := fakehv.Start(t, fakehv.Options{DeafFor: 300 * time.Millisecond})
	c := dial(t, s)
	if out, err := c.Run("patch list"); err != nil || !strings.HasPrefix(out, "NAME") {
		t.Errorf("patch list: %q, %v", out, err)
	}
}

func TestTimeout(t *testing.T) {
	// A peer that reads but never answers.
	dir := t.TempDir()
	path := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c)
		}
	}()
	start := time.Now()
	_, err = console.Dial("unix:"+path, 300*time.Millisecond)
	if !errors.Is(err, console.ErrTimeout) {
		t.Errorf("Dial: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Dial took %v", d)
	}

	// A shell whose command never finishes.
	release := make(chan struct{})
	s := fakehv.Start(t, fakehv.Options{Commands: []shell.Command{{
		Name: "hang", Help: "never returns",
		Run: func(*shell.Context, []string) error { <-release; return nil },
	}}})
	t.Cleanup(func() { close(release) })
	c, err := console.Dial(s.Spec, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start = time.Now()
	if _, err := c.Run("hang"); !errors.Is(err, console.ErrTimeout) {
		t.Errorf("hang: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run took %v", d)
	}

	// No socket at all: retried until the timeout, then ErrTimeout.
	start = time.Now()
	if _, err := console.Dial("unix:"+filepath.Join(dir, "none"), 200*time.Millisecond); !errors.Is(err, console.ErrTimeout) {
		t.Errorf("Dial missing socket: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Dial took %v", d)
	}
}

func TestClosed(t *testing.T) {
	s := fakehv.Start(t, fakehv.Options{Commands: []shell.Command{{
		Name: "bye", Help: "ends the shell",
		Run: func(*shell.Context, []string) error { return shell.ErrExit },
	}}})
	c := dial(t, s)
	if _, err := c.Run("bye"); !errors.Is(err, console.ErrClosed) {
		t.Errorf("bye: %v, want ErrClosed", err)
	}
}
