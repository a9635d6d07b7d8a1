// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Errors of Machine. Each is wrapped with detail: the pattern waited for,
// the unconsumed output tail, QEMU's stderr tail.
var (
	// ErrTimeout means Expect or Wait gave up after its timeout.
	ErrTimeout = errors.New("qemu: timeout")
	// ErrLimit means QEMU was killed because it passed Config.Limit.
	ErrLimit = errors.New("qemu: hard time limit reached")
	// ErrClosed means the Machine was closed.
	ErrClosed = errors.New("qemu: machine closed")
	// ErrExited means QEMU's output ended (it exited or died) before what
	// was expected, or it died from a signal the harness did not send.
	ErrExited = errors.New("qemu: exited")
	// ErrDetached means Send was called while the harness had let go of
	// the serial socket (Machine.Detach), or Detach was called twice.
	ErrDetached = errors.New("qemu: serial socket detached")
	// ErrNoSocket means Detach or Attach was called on a Machine whose
	// serial console is QEMU's stdin/stdout (Config.SerialSocket is "").
	ErrNoSocket = errors.New("qemu: serial console is not a socket")
)

const (
	// DefaultLimit is the hard wall-clock limit when Config.Limit is 0.
	DefaultLimit = 60 * time.Second
	// TailLen is how many bytes of unconsumed output error messages show.
	TailLen = 500

	sendTimeout   = 10 * time.Second      // a Send blocked this long fails
	closeTimeout  = 10 * time.Second      // Close waits this long for the reap
	attachTimeout = 10 * time.Second      // Start and Attach dial this long
	dialRetry     = 20 * time.Millisecond // pause between dial attempts
	maxPending    = 1 << 20               // unconsumed output kept in memory
	stderrKeep    = 1 << 10               // stderr kept in memory for messages
	stderrPrefix  = "[qemu stderr] "

	// sunPathLen is the size of sockaddr_un.sun_path (108 bytes on Linux,
	// unix(7); 104 on the BSDs), which holds a socket path and its NUL.
	sunPathLen = len(syscall.RawSockaddrUnix{}.Path)
)

// Config says what Start runs.
type Config struct {
	// Board gives the binary and, unless Args is set, the arguments.
	Board Board
	// Image is the file passed to -kernel.
	Image string
	// Limit is a hard wall-clock limit: when it passes, the process group
	// is killed whatever the test is doing. 0 means DefaultLimit.
	Limit time.Duration
	// LogPath is the file that receives everything QEMU prints (serial
	// output as is, stderr lines prefixed with "[qemu stderr] "). Its
	// directory is created. Data is written as it arrives, unbuffered, so
	// a killed run still leaves its log. "" means no log file.
	LogPath string
	// LogTruncate empties the log file first; otherwise the run is appended.
	LogTruncate bool
	// Binary overrides Board.QEMU (e.g. a stand-in program in tests).
	Binary string
	// Args overrides Board.Args(Image, "stdio") if non-nil (or
	// Board.Args(Image, "unix:"+SerialSocket+",server=on,wait=on")).
	Args []string
	// SerialSocket, if set, puts the serial console on a unix socket at
	// this path instead of QEMU's stdin/stdout: QEMU listens there
	// (server=on) and, with wait=on, starts the guest only once Start has
	// connected. The path must fit in a socket address (under 108 bytes
	// on Linux; SocketPath makes one). The harness can then let go of the
	// console with Machine.Detach, so that another client such as
	// cmd/hvctl can connect, and take it back with Machine.Attach.
	SerialSocket string
}

type killReason int

const (
	notKilled killReason = iota
	killedLimit
	killedClosed
	killedContext
)

// Machine is one running QEMU process whose serial console is its
// stdin/stdout or, with Config.SerialSocket, a unix socket the harness is
// connected to. Its methods are safe for concurrent use, but output is
// consumed by one Expect at a time, so tests normally drive it from one
// goroutine.
//
// QEMU runs in its own process group. The whole group is killed with
// SIGKILL by Close, by the hard limit, by cancellation of the context given
// to Start, and as soon as QEMU itself exits. On Linux QEMU also gets
// SIGKILL if the test process dies (PR_SET_PDEATHSIG), which covers the
// case where cleanups do not run, such as a "go test -timeout" panic.
type Machine struct {
	cfg   Config
	bin   string
	args  []string
	cmd   *exec.Cmd
	pid   int
	ctx   context.Context
	start time.Time

	stdin  *os.File
	sendMu sync.Mutex

	// Socket mode (Config.SerialSocket). conn, serialDone and
	// serialReaders are guarded by mu.
	sock          string
	attachMu      sync.Mutex    // serialises Attach, Detach and Close
	conn          net.Conn      // nil while detached
	serialDone    chan struct{} // closed when the latest socket reader ends
	serialReaders int           // socket readers running (0 or 1)

	logMu  sync.Mutex
	log    *os.File
	logBOL bool  // the log ends at a line start
	logErr error // first log write error

	mu         sync.Mutex
	pending    []byte // serial output not consumed by Expect
	dropped    int64  // bytes dropped from pending (maxPending)
	stdoutEOF  bool
	changed    chan struct{} // closed and replaced when the above change
	stderrTail []byte
	reason     killReason
	exited     bool // reaped
	waitErr    error
	state      *os.ProcessState

	limit     *time.Timer
	done      chan struct{} // closed when QEMU has been reaped
	drained   chan struct{} // closed when stdout and stderr hit EOF
	closed    chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error
}

// Start runs QEMU (or Config.Binary) as configured. Cancelling ctx kills
// it, as Close does. The caller must call Close; Boot arranges that.
func Start(ctx context.Context, cfg Config) (*Machine, error) {
	if cfg.Limit <= 0 {
		cfg.Limit = DefaultLimit
	}
	bin := cfg.Binary
	if bin == "" {
		bin = cfg.Board.QEMU
	}
	if bin == "" {
		return nil, fmt.Errorf("%w: neither Config.Binary nor Config.Board.QEMU is set", ErrNoQEMU)
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoQEMU, err)
	}
	args := cfg.Args
	if args == nil {
		if cfg.Image == "" {
			return nil, fmt.Errorf("%w: Config.Image is empty", ErrNoImage)
		}
		serial := "stdio"
		if cfg.SerialSocket != "" {
			serial = "unix:" + cfg.SerialSocket + ",server=on,wait=on"
		}
		args = cfg.Board.Args(cfg.Image, serial)
	}
	if n := len(cfg.SerialSocket); n >= sunPathLen {
		return nil, fmt.Errorf("qemu: serial socket path is %d bytes, a unix socket address holds %d (use SocketPath): %s", n, sunPathLen-1, cfg.SerialSocket)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("qemu: start: %w", err)
	}

	m := &Machine{
		cfg:     cfg,
		sock:    cfg.SerialSocket,
		bin:     path,
		args:    args,
		ctx:     ctx,
		logBOL:  true,
		changed: make(chan struct{}),
		done:    make(chan struct{}),
		drained: make(chan struct{}),
		closed:  make(chan struct{}),
	}
	if cfg.LogPath != "" {
		if err := m.openLog(); err != nil {
			return nil, err
		}
	}
	m.logf("=== %s start: %s\n", time.Now().Format(time.RFC3339), m.commandLine())

	var files []*os.File // every pipe end, closed on failure
	pipe := func() (r, w *os.File) {
		if err != nil {
			return nil, nil
		}
		r, w, err = os.Pipe()
		files = append(files, r, w)
		return r, w
	}
	inR, inW := pipe()
	outR, outW := pipe()
	errR, errW := pipe()
	if err != nil {
		m.fail(files)
		return nil, fmt.Errorf("qemu: pipe: %w", err)
	}

	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.SysProcAttr = sysProcAttr()
	m.start = time.Now()
	if err := cmd.Start(); err != nil {
		m.fail(files)
		return nil, fmt.Errorf("qemu: start %s: %w", path, err)
	}
	// The child has its copies; keeping ours would hide EOF.
	inR.Close()
	outW.Close()
	errW.Close()
	m.cmd, m.pid, m.stdin = cmd, cmd.Process.Pid, inW

	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); m.readStdout(outR) }()
	go func() { defer readers.Done(); m.readStderr(errR) }()
	go func() { readers.Wait(); close(m.drained) }()

	m.limit = time.AfterFunc(cfg.Limit, func() { m.kill(killedLimit) })
	go m.reap()
	go func() {
		select {
		case <-ctx.Done():
			m.kill(killedContext)
		case <-m.done:
		}
	}()

	if m.sock != "" {
		c, err := m.dial()
		if err != nil {
			m.Close()
			m.mu.Lock()
			defer m.mu.Unlock()
			return nil, fmt.Errorf("qemu: serial socket %s: %w%s", m.sock, err, m.diagLocked())
		}
		m.logf("=== %s attached serial %s\n", time.Now().Format(time.RFC3339), m.sock)
		m.startSerial(c)
	}
	return m, nil
}

func (m *Machine) openLog() error {
	if err := os.MkdirAll(filepath.Dir(m.cfg.LogPath), 0o755); err != nil {
		return fmt.Errorf("qemu: log: %w", err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if m.cfg.LogTruncate {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(m.cfg.LogPath, flags, 0o644)
	if err != nil {
		return fmt.Errorf("qemu: log: %w", err)
	}
	m.log = f
	return nil
}

// fail undoes a failed Start.
func (m *Machine) fail(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
	m.closeLog()
}

// reap waits for QEMU to exit, records how, and kills what is left of its
// process group (QEMU itself starts no processes; a stand-in might).
func (m *Machine) reap() {
	err := m.cmd.Wait()
	m.limit.Stop()
	m.mu.Lock()
	// Kill the group before marking the leader reaped: until then no one
	// else sends signals to this process group id.
	killGroup(m.pid)
	m.exited, m.waitErr, m.state = true, err, m.cmd.ProcessState
	m.notifyLocked()
	m.mu.Unlock()
	close(m.done)
}

// kill sends SIGKILL to the process group, once, unless QEMU has already
// been reaped (its pid, and so the group id, could then be reused).
func (m *Machine) kill(r killReason) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.exited {
		return
	}
	if m.reason == notKilled {
		m.reason = r
	}
	killGroup(m.pid)
}

func (m *Machine) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// readOutput copies serial output from r to the log and the pending
// buffer until r fails or ends.
func (m *Machine) readOutput(r io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m.writeLog(buf[:n])
			m.mu.Lock()
			m.pending = append(m.pending, buf[:n]...)
			if over := len(m.pending) - maxPending; over > 0 {
				m.pending = append(m.pending[:0:0], m.pending[over:]...)
				m.dropped += int64(over)
			}
			m.notifyLocked()
			m.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (m *Machine) readStdout(r *os.File) {
	defer r.Close()
	m.readOutput(r)
	m.mu.Lock()
	m.stdoutEOF = true
	m.notifyLocked()
	m.mu.Unlock()
}

// readSerial reads the serial socket connection c until it ends or is
// closed. Its end alone does not mean QEMU exited: Detach closes c.
func (m *Machine) readSerial(c net.Conn, done chan struct{}) {
	defer close(done)
	m.readOutput(c)
	m.mu.Lock()
	m.serialReaders--
	m.notifyLocked()
	m.mu.Unlock()
}

// startSerial makes c the serial console and starts its reader.
func (m *Machine) startSerial(c net.Conn) {
	done := make(chan struct{})
	m.mu.Lock()
	m.conn, m.serialDone = c, done
	m.serialReaders++
	m.mu.Unlock()
	go m.readSerial(c, done)
}

// dial connects to the serial socket, retrying for up to attachTimeout
// while the socket does not exist yet or refuses (QEMU has not started
// listening, or its listen queue is full). It gives up early if QEMU
// exits or the Machine is closed.
func (m *Machine) dial() (net.Conn, error) {
	deadline := time.Now().Add(attachTimeout)
	for {
		c, err := net.Dial("unix", m.sock)
		if err == nil {
			return c, nil
		}
		retry := errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EAGAIN)
		if !retry || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-m.closed:
			return nil, fmt.Errorf("%w: dialling serial socket", ErrClosed)
		case <-m.done:
			return nil, fmt.Errorf("%w: qemu pid %d exited before accepting a connection (%v)", ErrExited, m.pid, err)
		case <-time.After(dialRetry):
		}
	}
}

// lockSocket takes attachMu for op (Detach, Attach) after checking that
// the console is a socket and the Machine is not closed; the caller
// unlocks attachMu.
func (m *Machine) lockSocket(op string) error {
	if m.sock == "" {
		return fmt.Errorf("%w: %s", ErrNoSocket, op)
	}
	m.attachMu.Lock()
	select {
	case <-m.closed:
		m.attachMu.Unlock()
		return fmt.Errorf("%w: %s", ErrClosed, op)
	default:
	}
	return nil
}

// SerialSocket returns Config.SerialSocket: the unix socket path of the
// serial console, or "" if the console is QEMU's stdin/stdout.
func (m *Machine) SerialSocket() string { return m.sock }

// Detach closes the harness's connection to the serial socket, so that
// another client (cmd/hvctl -console unix:PATH, say) can connect, and
// waits until the harness has stopped reading it. QEMU's socket chardev
// serves one client at a time and accepts the next one once the current
// one has disconnected; whatever the guest prints while no client is
// connected is lost, and appears neither in the log (which gets a
// "=== ... detached serial" line) nor to Expect.
//
// While detached, Send fails with ErrDetached and Expect sees no new
// output (it times out as usual, or returns ErrExited if QEMU exits).
// Detach fails with ErrNoSocket in stdio mode and with ErrDetached if
// already detached.
func (m *Machine) Detach() error {
	if err := m.lockSocket("detach"); err != nil {
		return err
	}
	defer m.attachMu.Unlock()
	m.mu.Lock()
	c, done := m.conn, m.serialDone
	m.conn = nil
	m.mu.Unlock()
	if c == nil {
		return fmt.Errorf("%w: detach: already detached from %s", ErrDetached, m.sock)
	}
	err := c.Close()
	<-done
	m.logf("=== %s detached serial %s\n", time.Now().Format(time.RFC3339), m.sock)
	if err != nil {
		return fmt.Errorf("qemu: detach %s: %w", m.sock, err)
	}
	return nil
}

// Attach connects the harness to the serial socket again after Detach,
// retrying for up to 10 s (the other client may only just have
// disconnected), and resumes reading output from there. If the other
// client is still connected, the kernel queues the connection and QEMU
// takes it once that client disconnects, so Attach may succeed before the
// harness sees any output. Attach fails with ErrNoSocket in stdio mode,
// with ErrExited if QEMU exits first, and if already attached.
func (m *Machine) Attach() error {
	if err := m.lockSocket("attach"); err != nil {
		return err
	}
	defer m.attachMu.Unlock()
	m.mu.Lock()
	attached := m.conn != nil
	m.mu.Unlock()
	if attached {
		return fmt.Errorf("qemu: attach: already attached to %s", m.sock)
	}
	c, err := m.dial()
	if err != nil {
		return fmt.Errorf("qemu: attach %s: %w", m.sock, err)
	}
	m.logf("=== %s attached serial %s\n", time.Now().Format(time.RFC3339), m.sock)
	m.startSerial(c)
	return nil
}

func (m *Machine) readStderr(r *os.File) {
	defer r.Close()
	buf := make([]byte, 4<<10)
	var line []byte
	flush := func() {
		if len(line) == 0 {
			return
		}
		if line[len(line)-1] != '\n' {
			line = append(line, '\n')
		}
		m.writeStderrLog(line)
		m.mu.Lock()
		m.stderrTail = append(m.stderrTail, line...)
		if over := len(m.stderrTail) - stderrKeep; over > 0 {
			m.stderrTail = append(m.stderrTail[:0:0], m.stderrTail[over:]...)
		}
		m.mu.Unlock()
		line = line[:0]
	}
	for {
		n, err := r.Read(buf)
		for p := buf[:n]; len(p) > 0; {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				line = append(line, p...)
				break
			}
			line = append(line, p[:i+1]...)
			p = p[i+1:]
			flush()
		}
		if len(line) > 4<<10 {
			flush()
		}
		if err != nil {
			flush()
			return
		}
	}
}

// writeLog appends serial output to the log file.
func (m *Machine) writeLog(p []byte) {
	m.logMu.Lock()
	defer m.logMu.Unlock()
	if m.log == nil || len(p) == 0 {
		return
	}
	if _, err := m.log.Write(p); err != nil && m.logErr == nil {
		m.logErr = err
	}
	m.logBOL = p[len(p)-1] == '\n'
}

// writeStderrLog appends one stderr line to the log, on a line of its own.
func (m *Machine) writeStderrLog(line []byte) {
	m.logMu.Lock()
	defer m.logMu.Unlock()
	if m.log == nil {
		return
	}
	var b []byte
	if !m.logBOL {
		b = append(b, '\n')
	}
	b = append(b, stderrPrefix...)
	b = append(b, line...)
	if _, err := m.log.Write(b); err != nil && m.logErr == nil {
		m.logErr = err
	}
	m.logBOL = true
}

// logf writes a harness note to the log on a line of its own.
func (m *Machine) logf(format string, args ...any) {
	m.logMu.Lock()
	defer m.logMu.Unlock()
	if m.log == nil {
		return
	}
	s := fmt.Sprintf(format, args...)
	if !m.logBOL {
		s = "\n" + s
	}
	if _, err := m.log.WriteString(s); err != nil && m.logErr == nil {
		m.logErr = err
	}
	m.logBOL = true
}

func (m *Machine) closeLog() error {
	m.logMu.Lock()
	defer m.logMu.Unlock()
	if m.log == nil {
		return nil
	}
	err := m.log.Close()
	m.log = nil
	if m.logErr != nil {
		err = m.logErr
	}
	if err != nil {
		return fmt.Errorf("qemu: log %s: %w", m.cfg.LogPath, err)
	}
	return nil
}

// PID returns QEMU's process id, which is also its process group id.
func (m *Machine) PID() int { return m.pid }

// Board returns the board the machine was started with.
func (m *Machine) Board() Board { return m.cfg.Board.clone() }

// LogPath returns the log file, or "".
func (m *Machine) LogPath() string { return m.cfg.LogPath }

func (m *Machine) commandLine() string {
	words := []string{shellQuote(m.bin)}
	for _, a := range m.args {
		words = append(words, shellQuote(a))
	}
	return strings.Join(words, " ")
}

// Tail returns up to TailLen bytes at the end of the unconsumed output.
func (m *Machine) Tail() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tailLocked()
}

func (m *Machine) tailLocked() string {
	p := m.pending
	if len(p) > TailLen {
		return "..." + string(p[len(p)-TailLen:])
	}
	return string(p)
}

// diagLocked describes the unconsumed output and stderr for error messages.
func (m *Machine) diagLocked() string {
	s := "; unconsumed output tail: " + strconv.Quote(m.tailLocked())
	if len(m.stderrTail) > 0 {
		e := m.stderrTail
		if len(e) > TailLen {
			e = e[len(e)-TailLen:]
		}
		s += "; qemu stderr: " + strconv.Quote(string(e))
	}
	if m.cfg.LogPath != "" {
		s += "; log " + m.cfg.LogPath
	}
	return s
}

// Expect waits up to timeout until the regular expression re (RE2 syntax,
// package regexp) matches the serial output not yet consumed. It consumes
// the output up to the end of the match and returns the match followed by
// its submatches, as regexp.FindStringSubmatch does.
//
// The text is raw: "\r\n" line ends, echo of typed input and escape
// sequences all appear as the hypervisor sent them. Matching runs on the
// output received so far, so "$" (and a trailing ".*") can match at the end
// of a line that is still arriving; use ExpectLine for whole lines.
//
// On timeout the error wraps ErrTimeout; if QEMU's output ends first it
// wraps ErrExited without waiting for the timeout. Both include the last
// TailLen bytes of unconsumed output and QEMU's stderr.
func (m *Machine) Expect(re string, timeout time.Duration) ([]string, error) {
	rx, err := regexp.Compile(re)
	if err != nil {
		return nil, fmt.Errorf("qemu: expect: %w", err)
	}
	return m.ExpectRegexp(rx, timeout)
}

// ExpectRegexp is Expect with a compiled expression.
func (m *Machine) ExpectRegexp(rx *regexp.Regexp, timeout time.Duration) ([]string, error) {
	return m.expect(strconv.Quote(rx.String()), timeout, func(p []byte) (int, []string) {
		loc := rx.FindSubmatchIndex(p)
		if loc == nil {
			return -1, nil
		}
		return loc[1], submatches(p, loc)
	})
}

// ExpectLine waits up to timeout for a complete line (ended by "\n") of the
// unconsumed output that the regular expression re matches, with the line
// end ("\n" or "\r\n") removed first, so "^" and "$" anchor to the line.
// It consumes the output through the end of that line, skipping earlier
// lines, and returns the match and submatches. The first line starts where
// the last Expect stopped, possibly mid-line (after a prompt, say). Errors
// are as for Expect.
func (m *Machine) ExpectLine(re string, timeout time.Duration) ([]string, error) {
	rx, err := regexp.Compile(re)
	if err != nil {
		return nil, fmt.Errorf("qemu: expect line: %w", err)
	}
	return m.expect("line "+strconv.Quote(re), timeout, func(p []byte) (int, []string) {
		for start := 0; ; {
			i := bytes.IndexByte(p[start:], '\n')
			if i < 0 {
				return -1, nil
			}
			line := bytes.TrimSuffix(p[start:start+i], []byte{'\r'})
			if loc := rx.FindSubmatchIndex(line); loc != nil {
				return start + i + 1, submatches(line, loc)
			}
			start += i + 1
		}
	})
}

func submatches(p []byte, loc []int) []string {
	sub := make([]string, len(loc)/2)
	for i := range sub {
		if loc[2*i] >= 0 {
			sub[i] = string(p[loc[2*i]:loc[2*i+1]])
		}
	}
	return sub
}

// expect runs match on the unconsumed output each time it grows, until it
// returns an end offset >= 0, which is consumed.
func (m *Machine) expect(what string, timeout time.Duration, match func([]byte) (int, []string)) ([]string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		m.mu.Lock()
		if end, sub := match(m.pending); end >= 0 {
			m.pending = m.pending[end:]
			m.mu.Unlock()
			return sub, nil
		}
		// In socket mode the output ends when QEMU's stdout has and no
		// socket reader is left: the last output may still be in the
		// socket when stdout reaches EOF.
		eof, changed := m.stdoutEOF && m.serialReaders == 0, m.changed
		m.mu.Unlock()
		if eof {
			// Give stderr a moment to drain: it often says why.
			select {
			case <-m.drained:
			case <-time.After(time.Second):
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			return nil, fmt.Errorf("%w: output ended before %s matched%s", ErrExited, what, m.diagLocked())
		}

		select {
		case <-changed:
		case <-m.closed:
			return nil, fmt.Errorf("%w: waiting for %s", ErrClosed, what)
		case <-timer.C:
			m.mu.Lock()
			defer m.mu.Unlock()
			return nil, fmt.Errorf("%w after %v waiting for %s%s", ErrTimeout, timeout, what, m.diagLocked())
		}
	}
}

// Send writes line followed by "\r", as the Enter key on a serial terminal.
func (m *Machine) Send(line string) error {
	return m.SendRaw([]byte(line + "\r"))
}

// SendRaw writes b to the serial port as is. It fails if QEMU does not take
// the bytes within 10 s or has exited, and with ErrDetached in socket mode
// while detached.
func (m *Machine) SendRaw(b []byte) error {
	select {
	case <-m.closed:
		return fmt.Errorf("%w: send", ErrClosed)
	default:
	}
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	var w interface {
		io.Writer
		SetWriteDeadline(time.Time) error
	} = m.stdin
	if m.sock != "" {
		m.mu.Lock()
		c := m.conn
		m.mu.Unlock()
		if c == nil {
			return fmt.Errorf("%w: send %d bytes to %s", ErrDetached, len(b), m.sock)
		}
		w = c
	}
	_ = w.SetWriteDeadline(time.Now().Add(sendTimeout)) // pipes and sockets support deadlines; if not, Write just blocks
	if _, err := w.Write(b); err != nil {
		if errors.Is(err, net.ErrClosed) { // Detach or Close closed the connection meanwhile
			select {
			case <-m.closed:
				return fmt.Errorf("%w: send %d bytes: %w", ErrClosed, len(b), err)
			default:
				return fmt.Errorf("%w: send %d bytes: %w", ErrDetached, len(b), err)
			}
		}
		return fmt.Errorf("qemu: send %d bytes: %w", len(b), err)
	}
	return nil
}

// Wait waits up to timeout for QEMU to exit and returns its exit status.
// A non-zero status is not an error: compare it with Board.PoweroffStatus.
// The error wraps ErrTimeout if QEMU is still running (it is not killed;
// Close does that), ErrLimit if the hard limit killed it, ErrClosed if
// Close did, the context's error if the context did, and ErrExited if it
// died from another signal. Wait may be called more than once.
func (m *Machine) Wait(timeout time.Duration) (int, error) {
	expired, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	select {
	case <-m.done:
	case <-expired.Done():
		m.mu.Lock()
		defer m.mu.Unlock()
		return -1, fmt.Errorf("%w after %v: qemu pid %d still running%s", ErrTimeout, timeout, m.pid, m.diagLocked())
	}
	// Let the readers finish, so the log and Tail hold the last output.
	m.waitOutput(expired.Done())
	return m.status()
}

// waitOutput waits until stdout, stderr and the serial socket, if one is
// connected, have reached EOF, or until expired is closed.
func (m *Machine) waitOutput(expired <-chan struct{}) {
	select {
	case <-m.drained:
	case <-expired:
		return
	}
	m.mu.Lock()
	done := m.serialDone
	m.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-expired:
		}
	}
}

func (m *Machine) status() (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state
	if st == nil {
		return -1, fmt.Errorf("qemu: wait pid %d: %w", m.pid, m.waitErr)
	}
	if st.Exited() {
		return st.ExitCode(), nil
	}
	switch m.reason {
	case killedLimit:
		return -1, fmt.Errorf("%w: qemu pid %d killed after %v (%v)%s", ErrLimit, m.pid, m.cfg.Limit, st, m.diagLocked())
	case killedClosed:
		return -1, fmt.Errorf("%w: qemu pid %d killed (%v)", ErrClosed, m.pid, st)
	case killedContext:
		return -1, fmt.Errorf("qemu: pid %d killed (%v): %w", m.pid, st, context.Cause(m.ctx))
	}
	return -1, fmt.Errorf("%w: qemu pid %d %v%s", ErrExited, m.pid, st, m.diagLocked())
}

// Close kills QEMU's process group with SIGKILL, waits until QEMU has been
// reaped and its output drained into the log, and closes the log. It is
// idempotent, and safe to call at any time; the first call's error is
// returned again. Boot registers it with t.Cleanup, which the testing
// package runs after the test returns, calls t.Fatal (runtime.Goexit) or
// panics, so QEMU does not outlive a failed test.
func (m *Machine) Close() error {
	m.closeOnce.Do(func() {
		m.kill(killedClosed)
		close(m.closed)
		m.limit.Stop()
		expired, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		select {
		case <-m.done:
		case <-expired.Done():
			m.closeErr = fmt.Errorf("qemu: pid %d not reaped %v after SIGKILL", m.pid, closeTimeout)
		}
		m.waitOutput(expired.Done())
		m.closeSerial()
		m.stdin.Close()
		_, err := m.status()
		if err == nil {
			m.mu.Lock()
			err = fmt.Errorf("%v", m.state)
			m.mu.Unlock()
		}
		m.logf("=== %s end after %v: %v\n", time.Now().Format(time.RFC3339), time.Since(m.start).Round(time.Millisecond), shortErr(err))
		if err := m.closeLog(); err != nil && m.closeErr == nil {
			m.closeErr = err
		}
	})
	return m.closeErr
}

// closeSerial closes the serial socket connection, if any, and waits for
// its reader.
func (m *Machine) closeSerial() {
	if m.sock == "" {
		return
	}
	m.attachMu.Lock()
	defer m.attachMu.Unlock()
	m.mu.Lock()
	c, done := m.conn, m.serialDone
	m.conn = nil
	m.mu.Unlock()
	if c != nil {
		c.Close()
		<-done
	}
}

// shortErr is the first clause of err, without the output tails.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.Index(s, "; "); i >= 0 {
		s = s[:i]
	}
	return s
}
