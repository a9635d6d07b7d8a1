// cmd/hvctl: host-side control of a running tamavisor over its serial console.
// SPDX-License-Identifier: BSD-3-Clause

// Package console drives tamavisor's operator shell (hv/shell) over a
// serial console that QEMU exposes as a socket, for hvctl and for the
// integration tests in ci/, which share this one code path.
//
// The console is a shared stream: the shell echoes what it reads, ends
// lines with "\r\n", prints its prompt ("tamavisor> ") without a line
// break, and the hypervisor and its guests may print log lines at any
// time. A Conn therefore never relies on the prompt or on echo. After each
// command line it sends a sync line holding a word no command has, a
// token such as hvctl-3f2a9c01d4e5-7; the shell answers it with
// `error: unknown command "hvctl-3f2a9c01d4e5-7" (try help)` only once the
// command before it has finished, since the shell reads one line at a time.
// A command's output is everything between its line and that answer, with
// the echo and prompts removed; the reply of a --json command is the last
// line of it that is a JSON object of the expected shape.
//
// Every wait has a deadline: a Conn never blocks longer than its timeout
// after the last byte it wrote.
//
// The package is plain host Go (any OS with unix or TCP sockets); it is
// not built into the hypervisor image.
package console

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tamavisor/tamavisor/hv/shell"
)

// Errors of Conn. Each is wrapped with detail (the command, what was
// waited for, the tail of what the console said).
var (
	// ErrTimeout means the console did not answer within the timeout.
	ErrTimeout = errors.New("console: timeout")
	// ErrClosed means the console connection ended (QEMU exited, or
	// Close was called).
	ErrClosed = errors.New("console: connection closed")
	// ErrSpec reports a console address that is not unix:PATH or
	// tcp:HOST:PORT.
	ErrSpec = errors.New("console: bad console address")
	// ErrCommand reports a command line the client refuses to send: empty,
	// longer than the shell's line limit, holding a line break or
	// non-text byte, or a command that takes the console over.
	ErrCommand = errors.New("console: bad command line")
	// ErrNoReply means a --json command finished without a JSON reply of
	// the expected shape (for example because a log line was printed in
	// the middle of it).
	ErrNoReply = errors.New("console: no JSON reply")
)

// RemoteError is an error the hypervisor's shell reported for a command:
// its one line `error: MSG` or `{"error":"MSG"}`.
type RemoteError struct {
	Command string // the command line, as sent
	Msg     string // the shell's message, e.g. `hotpatch: no payload "x" (ENOENT)`
}

func (e *RemoteError) Error() string { return e.Msg }

// DefaultTimeout is the timeout Dial uses when it is given 0.
const DefaultTimeout = 10 * time.Second

// Console byte sequences (ASCII). Ctrl-] detaches `vm console` (see
// hv/vmm.ConsoleEscape); in the shell it is a non-text byte that, with the
// Ctrl-C after it, makes the line reader discard whatever was typed, or
// aborts an upload waiting for payload lines.
const (
	asciiETX      = "\x03" // Ctrl-C
	consoleEscape = "\x1d" // Ctrl-]
	resetSequence = consoleEscape + asciiETX
	eol           = "\n" // the shell accepts CR or LF; a lone LF never pairs with the next line's
)

const (
	// maxSection bounds the output kept for one command; older lines are
	// dropped first.
	maxSection = 1 << 20
	// maxBuffered bounds what the reader holds for the consumer; older
	// bytes are dropped first.
	maxBuffered = 8 << 20
	// maxLineBytes splits a console "line" that never ends.
	maxLineBytes = 64 << 10
	// pollTick bounds how long a wait sleeps between deadline checks.
	pollTick = 50 * time.Millisecond
	// syncResend is how long Sync waits for an answer before it sends
	// its sync line again.
	syncResend = time.Second
)

// Conn is a connection to the operator shell on a tamavisor console. It
// runs one command at a time; its methods must not be called
// concurrently. A background goroutine reads the console all the time, so
// a chatty console never blocks the hypervisor's writes while the Conn is
// open.
type Conn struct {
	nc      net.Conn
	timeout time.Duration
	token   string // random prefix of this Conn's sync words
	seq     int

	mu         sync.Mutex
	transcript io.Writer // see SetTranscript
	in         []byte    // read, not yet taken by the consumer
	rerr       error     // sticky read error
	notify     chan struct{}
	done       chan struct{} // closed when the reader goroutine returns

	pending []byte // consumer side: taken from in, not yet split into lines

	progress atomic.Int64 // UnixNano of the last write that completed
}

// ParseSpec turns a console address into a network and an address for
// net.Dial: "unix:PATH" or a path starting with "/" or "." is a unix
// socket, "tcp:HOST:PORT" a TCP one. QEMU's chardev options after the
// first comma ("unix:build/tv.sock,server=on,wait=off") are ignored, so
// the -serial argument can be pasted as is.
func ParseSpec(spec string) (network, addr string, err error) {
	s := spec
	if i := strings.IndexByte(s, ','); i >= 0 {
		s = s[:i]
	}
	switch {
	case strings.HasPrefix(s, "unix:"):
		network, addr = "unix", strings.TrimPrefix(s, "unix:")
	case strings.HasPrefix(s, "tcp:"):
		network, addr = "tcp", strings.TrimPrefix(s, "tcp:")
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", "", fmt.Errorf("%w %q: %v", ErrSpec, spec, err)
		}
	case strings.HasPrefix(s, "/"), strings.HasPrefix(s, "."):
		network, addr = "unix", s
	default:
		return "", "", fmt.Errorf("%w %q: want unix:PATH or tcp:HOST:PORT", ErrSpec, spec)
	}
	if addr == "" {
		return "", "", fmt.Errorf("%w %q: empty address", ErrSpec, spec)
	}
	return network, addr, nil
}

// Dial connects to the console at spec (see ParseSpec) and synchronises
// with the shell (see Sync). While the socket does not exist yet or
// refuses connections (QEMU still starting), it retries until the timeout.
// A timeout of 0 means DefaultTimeout.
func Dial(spec string, timeout time.Duration) (*Conn, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	network, addr, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		nc, err := net.DialTimeout(network, addr, time.Until(deadline))
		if err == nil {
			return New(nc, timeout)
		}
		retry := errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
		if !retry || time.Now().Add(pollTick).After(deadline) {
			if retry {
				return nil, fmt.Errorf("%w: connecting to %s after %v: %v", ErrTimeout, spec, timeout, err)
			}
			return nil, fmt.Errorf("console: connecting to %s: %w", spec, err)
		}
		time.Sleep(pollTick)
	}
}

// New makes a Conn over an open connection to a console and synchronises
// with the shell. On error nc is closed. A timeout of 0 means
// DefaultTimeout.
func New(nc net.Conn, timeout time.Duration) (*Conn, error) {
	c := newConn(nc, timeout)
	if err := c.Sync(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func newConn(nc net.Conn, timeout time.Duration) *Conn {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var r [6]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (Go 1.24+)
	c := &Conn{
		nc:      nc,
		timeout: timeout,
		token:   "hvctl-" + hex.EncodeToString(r[:]),
		notify:  make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// SetTranscript makes every byte read from the console from now on go
// to w as well (nil stops it), for logs and debugging. w is written from
// the reader goroutine, with the Conn's lock held: it must not block.
func (c *Conn) SetTranscript(w io.Writer) {
	c.mu.Lock()
	c.transcript = w
	c.mu.Unlock()
}

// Timeout returns the Conn's timeout.
func (c *Conn) Timeout() time.Duration { return c.timeout }

// Close closes the connection and waits for the reader goroutine.
func (c *Conn) Close() error {
	err := c.nc.Close()
	<-c.done
	return err
}

// readLoop copies the console into c.in until the connection ends.
func (c *Conn) readLoop() {
	defer close(c.done)
	buf := make([]byte, 32<<10)
	for {
		n, err := c.nc.Read(buf)
		c.mu.Lock()
		if n > 0 && c.transcript != nil {
			_, _ = c.transcript.Write(buf[:n]) // a debugging aid: its errors do not matter
		}
		c.in = append(c.in, buf[:n]...)
		if len(c.in) > maxBuffered {
			c.in = append(c.in[:0], c.in[len(c.in)-maxBuffered:]...)
		}
		if err != nil {
			c.rerr = err
		}
		c.mu.Unlock()
		select {
		case c.notify <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// take moves what the reader has read into c.pending and returns the
// reader's error, if it has stopped.
func (c *Conn) take() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = append(c.pending, c.in...)
	c.in = c.in[:0]
	return c.rerr
}

// discard drops the lines read so far: what the console printed between
// commands (log lines, answers to earlier sync lines). It keeps a partial
// last line, which is most likely a prompt still arriving byte by byte
// from a UART, so that it is recognised once the echo completes it.
func (c *Conn) discard() {
	_ = c.take()
	i := bytes.LastIndexByte(c.pending, '\n')
	c.pending = append(c.pending[:0], c.pending[i+1:]...)
}

// nextToken returns a new sync word: at most 32 bytes, so the shell
// repeats it whole in its error message.
func (c *Conn) nextToken() string {
	c.seq++
	return fmt.Sprintf("%s-%d", c.token, c.seq)
}

// write sends s with a write deadline and records the progress.
func (c *Conn) write(s string) error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if _, err := io.WriteString(c.nc, s); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("%w: the console accepted no input for %v", ErrTimeout, c.timeout)
		}
		return fmt.Errorf("%w: writing: %v", ErrClosed, err)
	}
	c.progress.Store(time.Now().UnixNano())
	return nil
}

// Sync brings the shell to a known state and drops what the console
// printed before: it sends Ctrl-] and Ctrl-C (which detach a `vm console`
// session, discard a half-typed line, or abort an upload waiting for
// payload lines), then a sync line, and waits for the shell's answer to
// it, sending both again every syncResend (input sent while the
// hypervisor was still booting, or swallowed by a detaching `vm console`,
// is lost) until the timeout. Dial and New call it; call it again after
// an error if the Conn is to be reused.
func (c *Conn) Sync() error {
	c.discard()
	tok := c.nextToken()
	answer := `"` + tok + `"`
	deadline := time.Now().Add(c.timeout)
	for {
		if err := c.write(resetSequence + tok + eol); err != nil {
			return fmt.Errorf("console: synchronising with the shell: %w", err)
		}
		wait := min(syncResend, time.Until(deadline))
		_, _, err := c.collect(func(line string) bool {
			return line != tok && strings.Contains(line, answer)
		}, nil, wait)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrTimeout) || !time.Now().Add(pollTick).Before(deadline) {
			if errors.Is(err, ErrTimeout) {
				err = fmt.Errorf("%w: the shell did not answer within %v", ErrTimeout, c.timeout)
			}
			return fmt.Errorf("console: synchronising with the shell: %w", err)
		}
	}
}

// CheckLine reports, with an error wrapping ErrCommand, a command line
// that Run refuses to send: empty, longer than the shell's line limit
// (hv/shell.MaxLine), holding a byte that is not printable ASCII, or
// `vm console`, which hands the console to a VM until Ctrl-].
func CheckLine(cmd string) error {
	switch {
	case strings.TrimSpace(cmd) == "":
		return fmt.Errorf("%w: empty", ErrCommand)
	case len(cmd) > shell.MaxLine:
		return fmt.Errorf("%w: %d bytes, the shell's limit is %d", ErrCommand, len(cmd), shell.MaxLine)
	}
	for i := 0; i < len(cmd); i++ {
		if b := cmd[i]; b < ' ' || b >= 0x7f {
			return fmt.Errorf("%w: byte %#02x at %d is not printable ASCII", ErrCommand, b, i)
		}
	}
	if w, err := shell.Split(cmd); err == nil && len(w) >= 2 && w[0] == "vm" && w[1] == "console" {
		return fmt.Errorf("%w: vm console takes the console over; use a terminal", ErrCommand)
	}
	return nil
}

// Run runs one shell command line and returns its output: the lines it
// printed, joined by "\n", without echo or prompts. Log lines the
// hypervisor printed meanwhile are part of it. If the last line is the
// shell's `error: MSG` (or `{"error":"MSG"}`), Run returns the output and
// a *RemoteError.
func (c *Conn) Run(cmd string) (string, error) {
	return c.run(cmd, 0)
}

// run is Run with extra time allowed for a command known to be slow.
func (c *Conn) run(cmd string, extra time.Duration) (string, error) {
	lines, err := c.exec(cmd, extra)
	out := strings.Join(lines, "\n")
	if err != nil {
		return out, err
	}
	if n := len(lines); n > 0 {
		last := lines[n-1]
		if msg, ok := strings.CutPrefix(last, "error: "); ok {
			return out, &RemoteError{Command: cmd, Msg: msg}
		}
		if msg, ok := errorObject([]byte(last)); ok {
			return out, &RemoteError{Command: cmd, Msg: msg}
		}
	}
	return out, nil
}

// exec sends cmd and its sync line and returns the output lines.
func (c *Conn) exec(cmd string, extra time.Duration) ([]string, error) {
	if err := CheckLine(cmd); err != nil {
		return nil, err
	}
	c.discard()
	tok := c.nextToken()
	c.progress.Store(time.Now().UnixNano())
	if err := c.write(cmd + eol + tok + eol); err != nil {
		return nil, err
	}
	lines, err := c.waitToken(tok, cmd, nil, extra)
	if err != nil {
		return lines, fmt.Errorf("console: %q: %w", cmd, err)
	}
	return trimBlank(lines), nil
}

// RunJSON runs cmd with --json and decodes its reply into v. The reply is
// the last output line that is a JSON object holding every key in keys
// (so a log line that happens to be JSON is not taken for it). The
// shell's {"error":"MSG"} becomes a *RemoteError. It returns the reply
// line as received.
func (c *Conn) RunJSON(cmd string, v any, keys ...string) (json.RawMessage, error) {
	return c.runJSON(cmd, v, 0, keys...)
}

func (c *Conn) runJSON(cmd string, v any, extra time.Duration, keys ...string) (json.RawMessage, error) {
	full := cmd + " --json"
	lines, err := c.exec(full, extra)
	if err != nil {
		return nil, err
	}
	return decodeReply(full, lines, v, keys)
}

// decodeReply finds the reply among a command's output lines.
func decodeReply(cmd string, lines []string, v any, keys []string) (json.RawMessage, error) {
	for i := len(lines) - 1; i >= 0; i-- {
		line := []byte(lines[i])
		if len(line) == 0 || line[0] != '{' || !json.Valid(line) {
			continue
		}
		if msg, ok := errorObject(line); ok {
			return line, &RemoteError{Command: cmd, Msg: msg}
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(line, &obj) != nil || !hasKeys(obj, keys) {
			continue
		}
		if v != nil {
			if err := json.Unmarshal(line, v); err != nil {
				return line, fmt.Errorf("%w: %q: decoding %s: %v", ErrNoReply, cmd, line, err)
			}
		}
		return line, nil
	}
	return nil, fmt.Errorf("%w to %q in %q", ErrNoReply, cmd, tail(strings.Join(lines, "\n")))
}

func hasKeys(obj map[string]json.RawMessage, keys []string) bool {
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			return false
		}
	}
	return true
}

// errorObject reports whether line is the shell's JSON error form, an
// object whose only key is "error", and returns the message.
func errorObject(line []byte) (string, bool) {
	if len(line) == 0 || line[0] != '{' {
		return "", false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(line, &obj) != nil || len(obj) != 1 {
		return "", false
	}
	raw, ok := obj["error"]
	if !ok {
		return "", false
	}
	var msg string
	if json.Unmarshal(raw, &msg) != nil {
		return "", false
	}
	return msg, true
}

// waitToken collects console lines until the shell's answer to the sync
// word tok, and returns them with prompts stripped and without the echo
// of cmd (if cmd is not "") or of tok. keep, if not nil, sees each line
// first and may drop it (return false) or end the wait early with an
// error. The deadline is the timeout plus extra after the last completed
// write.
func (c *Conn) waitToken(tok, cmd string, keep func(string) (bool, error), extra time.Duration) ([]string, error) {
	echoed := cmd == ""
	answer := `"` + tok + `"`
	lines, _, err := c.collect(
		func(line string) bool { return line != tok && strings.Contains(line, answer) },
		func(line string) (bool, error) {
			switch {
			case strings.Contains(line, c.token):
				// The echo of a sync line, or a late answer to one
				// that Sync sent again.
				return false, nil
			case !echoed && line == cmd:
				echoed = true
				return false, nil
			case keep != nil:
				return keep(line)
			}
			return true, nil
		},
		c.timeout+extra)
	return lines, err
}

// collect reads console lines, prompts stripped, until end reports true
// for one, and returns the lines before it that filter (if not nil)
// keeps, and that last line. filter may end the wait with an error. It
// fails with ErrTimeout once timeout has passed since the last completed
// write, and with ErrClosed if the connection ends.
func (c *Conn) collect(end func(string) bool, filter func(string) (bool, error), timeout time.Duration) (lines []string, last string, err error) {
	var size int
	ticker := time.NewTicker(pollTick)
	defer ticker.Stop()
	for {
		rerr := c.take()
		for {
			i := bytes.IndexByte(c.pending, '\n')
			if i < 0 {
				if len(c.pending) < maxLineBytes {
					break
				}
				i = maxLineBytes - 1
			}
			line := stripPrompt(strings.TrimRight(string(c.pending[:i+1]), "\r\n"))
			c.pending = c.pending[i+1:]
			if end(line) {
				return lines, line, nil
			}
			if filter != nil {
				ok, err := filter(line)
				if err != nil {
					return lines, "", err
				}
				if !ok {
					continue
				}
			}
			lines = append(lines, line)
			size += len(line) + 1
			for size > maxSection && len(lines) > 1 {
				size -= len(lines[0]) + 1
				lines = lines[1:]
			}
		}
		if rerr != nil {
			return lines, "", fmt.Errorf("%w (%v) before the shell answered; it said %q", ErrClosed, rerr, tail(strings.Join(lines, "\n")+string(c.pending)))
		}
		if time.Since(time.Unix(0, c.progress.Load())) > timeout {
			return lines, "", fmt.Errorf("%w: no answer within %v; the console said %q", ErrTimeout, timeout, tail(strings.Join(lines, "\n")+string(c.pending)))
		}
		select {
		case <-c.notify:
		case <-ticker.C:
		}
	}
}

// stripPrompt removes the shell prompts at the start of a console line:
// the prompt is printed without a line break, so the echo, the output of a
// shell without echo, or a log line may follow it on the same line.
func stripPrompt(line string) string {
	for strings.HasPrefix(line, shell.Prompt) {
		line = line[len(shell.Prompt):]
	}
	if strings.TrimSpace(line) == strings.TrimSpace(shell.Prompt) {
		return ""
	}
	return line
}

// trimBlank drops empty lines at both ends.
func trimBlank(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// tail returns the end of s for an error message.
func tail(s string) string {
	const n = 300
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
