// cmd/hvctl: host-side control of a running tamavisor over its serial console.
// SPDX-License-Identifier: BSD-3-Clause

// Package fakehv serves the real operator shell (hv/shell) with the real
// patch command (hotpatch.Commands over a hotpatch.Manager) on a unix
// socket, as QEMU's `-serial unix:PATH,server=on,wait=off` exposes the
// console, for the host tests of hvctl. Only the hotpatch Engine is fake.
// It runs on the host only.
package fakehv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tamavisor/tamavisor/hotpatch"
	"github.com/tamavisor/tamavisor/hv/shell"
)

// Engine is a fake hotpatch.Engine. A payload is any bytes; one that
// starts with "BADSIG" is refused at upload with EPERM, one that holds
// "NOSYS" fails APPLY with ENOSYS. Check, Apply and Revert each take the
// time SetDelay sets (none at first).
type Engine struct {
	mu    sync.Mutex
	delay time.Duration
}

// SetDelay makes Check, Apply and Revert take d.
func (e *Engine) SetDelay(d time.Duration) {
	e.mu.Lock()
	e.delay = d
	e.mu.Unlock()
}

func (e *Engine) sleep() {
	e.mu.Lock()
	d := e.delay
	e.mu.Unlock()
	time.Sleep(d)
}

var _ hotpatch.Engine = (*Engine)(nil)

type loaded struct{ raw []byte }

func (l *loaded) Targets() []string { return []string{"fake.target"} }
func (l *loaded) Release()          {}

// Load implements hotpatch.Engine.
func (e *Engine) Load(raw []byte) (hotpatch.Loaded, error) {
	if bytes.HasPrefix(raw, []byte("BADSIG")) {
		return nil, fmt.Errorf("fake: signature does not verify: %w", hotpatch.EPERM)
	}
	return &loaded{raw: bytes.Clone(raw)}, nil
}

// Check implements hotpatch.Engine.
func (e *Engine) Check(p hotpatch.Loaded, applied []hotpatch.Loaded) error {
	e.sleep()
	return nil
}

// Apply implements hotpatch.Engine.
func (e *Engine) Apply(p hotpatch.Loaded, revertFirst []hotpatch.Loaded, timeout time.Duration) error {
	e.sleep()
	if bytes.Contains(p.(*loaded).raw, []byte("NOSYS")) {
		return fmt.Errorf("fake: apply is not implemented: %w", hotpatch.ENOSYS)
	}
	return nil
}

// Revert implements hotpatch.Engine.
func (e *Engine) Revert(p hotpatch.Loaded, timeout time.Duration) error {
	e.sleep()
	return nil
}

// Options configure Start.
type Options struct {
	// NoEcho turns the shell's echo off.
	NoEcho bool
	// Junk, if > 0, makes a goroutine print a log line (and now and
	// then a JSON-looking one) on every connection at this interval,
	// as the hypervisor and its guests do on a shared console.
	Junk time.Duration
	// Commands are registered besides patch.
	Commands []shell.Command
	// DeafFor makes the shell drop its input for this long after a
	// connection starts, as a hypervisor that is still booting does.
	DeafFor time.Duration
}

// deaf drops what is read from r until the time until.
type deaf struct {
	r     io.Reader
	until time.Time
}

func (d *deaf) Read(p []byte) (int, error) {
	for {
		n, err := d.r.Read(p)
		if err != nil || time.Now().After(d.until) {
			return n, err
		}
	}
}

// Server is a running fake console.
type Server struct {
	Path    string // the socket
	Spec    string // "unix:" + Path
	Manager *hotpatch.Manager
	Engine  *Engine

	t    testing.TB
	o    Options
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn []net.Conn
	quit chan struct{}
}

// Start listens on a socket in a temporary directory and serves a shell
// on every connection, sharing one Manager, until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	// A short directory: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "hvctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "tv.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{}
	s := &Server{Path: path, Spec: "unix:" + path, Manager: hotpatch.NewManager(e), Engine: e,
		t: t, o: o, ln: ln, quit: make(chan struct{})}
	t.Cleanup(s.stop)
	s.wg.Add(1)
	go s.accept()
	return s
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conn = append(s.conn, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
		if s.o.Junk > 0 {
			s.wg.Add(1)
			go s.junk(c)
		}
	}
}

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	var in io.Reader = c
	if s.o.DeafFor > 0 {
		in = &deaf{r: c, until: time.Now().Add(s.o.DeafFor)}
	}
	sh := shell.New(in, c)
	sh.SetEcho(!s.o.NoEcho)
	for _, cmd := range append(hotpatch.Commands(s.Manager), s.o.Commands...) {
		if err := sh.Register(cmd); err != nil {
			s.t.Errorf("fakehv: %v", err)
			return
		}
	}
	if err := sh.Run(); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "connection reset") && !strings.Contains(err.Error(), "broken pipe") {
		s.t.Logf("fakehv: shell: %v", err)
	}
}

func (s *Server) junk(c net.Conn) {
	defer s.wg.Done()
	tick := time.NewTicker(s.o.Junk)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-s.quit:
			return
		case <-tick.C:
		}
		line := fmt.Sprintf("tamavisor: vm 1: log line %d\r\n", n)
		if n%3 == 1 {
			line = fmt.Sprintf("{\"log\":%d}\r\n", n)
		}
		if _, err := c.Write([]byte(line)); err != nil {
			return
		}
	}
}

func (s *Server) stop() {
	close(s.quit)
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conn {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
