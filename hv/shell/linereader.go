// hv/shell: the operator shell on tamavisor's serial console.
// SPDX-License-Identifier: BSD-3-Clause

package shell

import (
	"errors"
	"fmt"
	"io"
	"runtime"
)

// MaxLine is the longest line, in bytes, that LineReader accepts.
const MaxLine = 256

// Errors returned by LineReader.ReadLine. After each of them the reader
// has consumed the offending line and the next call starts afresh.
var (
	// ErrLineTooLong reports a line longer than MaxLine bytes.
	ErrLineTooLong = fmt.Errorf("line too long (max %d bytes)", MaxLine)
	// ErrBinary reports a line holding bytes that are not printable
	// ASCII, such as line noise or a terminal escape sequence (arrow
	// keys). ReadLine wraps it with the number of such bytes.
	ErrBinary = errors.New("ignoring non-text input")
	// ErrInterrupted reports that Ctrl-C discarded the line being typed.
	ErrInterrupted = errors.New("interrupted")
)

// Console control characters (ASCII, ECMA-6 / ANSI X3.4).
const (
	asciiETX = 0x03 // Ctrl-C
	asciiBS  = 0x08 // backspace
	asciiHT  = 0x09 // horizontal tab
	asciiLF  = 0x0a
	asciiCR  = 0x0d
	asciiDEL = 0x7f // sent by most terminals for the backspace key
)

// Echo sequences written to LineReader.Echo.
const (
	echoErase     = "\b \b"
	echoNewline   = "\r\n"
	echoInterrupt = "^C\r\n"
)

// LineReader reads operator command lines from a byte stream such as a
// UART. It is not safe for concurrent use.
//
// A line ends at CR or LF; a CR LF or LF CR pair counts as one end of
// line. Backspace and DEL erase the last character, TAB reads as a space
// and Ctrl-C discards the line. Any other byte that is not printable
// ASCII marks the line as garbage (ErrBinary).
//
// The reader may be a polled UART whose Read returns (0, nil) while no
// byte has arrived: ReadLine keeps polling, yielding the CPU in between,
// until a line is complete or Read returns an error.
type LineReader struct {
	// Echo, when not nil, receives the interactive echo: printable
	// characters as they are typed, "\b \b" for an erased character,
	// "\r\n" at the end of a line and "^C\r\n" for Ctrl-C. Once a line
	// is rejected as garbage or over-long, the rest of it is not echoed.
	Echo io.Writer

	r   io.Reader
	in  [64]byte // bytes read but not yet consumed: in[pos:end]
	pos int
	end int
	err error // sticky read or echo error, reported once in[] drains

	line []byte
	// lastEOL is the byte (CR or LF) that ended the previous line, or 0.
	// If the next byte is the other half of a CR LF / LF CR pair it is
	// skipped.
	lastEOL byte
}

// NewLineReader returns a LineReader that reads from r, without echo.
func NewLineReader(r io.Reader) *LineReader {
	return &LineReader{r: r, line: make([]byte, 0, MaxLine)}
}

// ReadLine returns the next line, without its terminator.
//
// On a line that is too long or holds non-text bytes it consumes the
// rest of the line and returns ErrLineTooLong or an error wrapping
// ErrBinary; on Ctrl-C it returns ErrInterrupted at once. In all three
// cases the following call reads the next line normally.
//
// At the end of the stream a final line without terminator is returned
// first, with a nil error, and io.EOF on the next call. Other read
// errors, and errors writing the echo, discard the partial line and are
// returned from then on.
func (lr *LineReader) ReadLine() (string, error) {
	lr.line = lr.line[:0]
	var (
		tooLong bool
		bad     int // non-text bytes seen in this line
	)
	for {
		c, err := lr.readByte()
		if err != nil {
			if err == io.EOF {
				// Report what the line held before the end of input.
				switch {
				case bad > 0:
					return "", binaryError(bad)
				case tooLong:
					return "", ErrLineTooLong
				case len(lr.line) > 0:
					lr.echo(echoNewline)
					return string(lr.line), nil
				}
			}
			return "", err
		}

		if lr.lastEOL != 0 {
			pair := (lr.lastEOL == asciiCR && c == asciiLF) ||
				(lr.lastEOL == asciiLF && c == asciiCR)
			lr.lastEOL = 0
			if pair {
				continue
			}
		}

		switch {
		case c == asciiCR || c == asciiLF:
			lr.lastEOL = c
			lr.echo(echoNewline)
			switch {
			case bad > 0:
				return "", binaryError(bad)
			case tooLong:
				return "", ErrLineTooLong
			}
			return string(lr.line), nil

		case c == asciiETX:
			lr.echo(echoInterrupt)
			return "", ErrInterrupted

		case bad > 0 || tooLong:
			// Discarding the rest of a rejected line; count further
			// garbage so the error says how much there was.
			if !isText(c) && c != asciiBS && c != asciiDEL {
				bad++
			}

		case c == asciiBS || c == asciiDEL:
			if len(lr.line) > 0 {
				lr.line = lr.line[:len(lr.line)-1]
				lr.echo(echoErase)
			}

		case !isText(c):
			bad++

		case len(lr.line) >= MaxLine:
			tooLong = true

		default:
			if c == asciiHT {
				c = ' '
			}
			lr.line = append(lr.line, c)
			lr.echoByte(c)
		}
	}
}

// isText reports whether c may appear in a command line: printable ASCII
// or TAB.
func isText(c byte) bool {
	return c == asciiHT || (c >= 0x20 && c < asciiDEL)
}

func binaryError(n int) error {
	return fmt.Errorf("%w (%d bytes)", ErrBinary, n)
}

// readByte returns the next input byte, refilling the buffer one Read at
// a time, so an interactive UART is never asked for more bytes than it
// has.
//
// A Read that returns (0, nil) is retried, after runtime.Gosched: that is
// how TamaGo's polled UART drivers say that no byte has arrived yet, so,
// unlike bufio, this never gives up with io.ErrNoProgress.
func (lr *LineReader) readByte() (byte, error) {
	for lr.pos == lr.end {
		if lr.err != nil {
			return 0, lr.err
		}
		n, err := lr.r.Read(lr.in[:])
		if n < 0 || n > len(lr.in) {
			n, err = 0, fmt.Errorf("shell: reader returned invalid count %d", n)
		}
		lr.pos, lr.end = 0, n
		if err != nil {
			lr.err = err
		} else if n == 0 {
			runtime.Gosched()
		}
	}
	c := lr.in[lr.pos]
	lr.pos++
	return c, nil
}

// echo writes s to Echo, if any. A write error becomes the reader's
// sticky error, so the next ReadLine reports it once buffered input is
// used up.
func (lr *LineReader) echo(s string) {
	if lr.Echo == nil {
		return
	}
	if _, err := io.WriteString(lr.Echo, s); err != nil && lr.err == nil {
		lr.err = fmt.Errorf("shell: echo: %w", err)
	}
}

func (lr *LineReader) echoByte(c byte) {
	if lr.Echo == nil {
		return
	}
	lr.echo(string(rune(c)))
}
