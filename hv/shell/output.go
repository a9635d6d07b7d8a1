// hv/shell: the operator shell on tamavisor's serial console.
// SPDX-License-Identifier: BSD-3-Clause

package shell

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// consoleWriter is the shell's view of the console. It turns every "\n"
// not already preceded by "\r" into "\r\n", and keeps the first write
// error: once a write fails, later writes are dropped and return it, and
// Shell.Run stops. Callers may therefore ignore the result of each
// individual write and check err at the end.
type consoleWriter struct {
	w      io.Writer
	lastCR bool // the last byte written was '\r'
	err    error
	buf    []byte
}

func (cw *consoleWriter) Write(p []byte) (int, error) {
	if cw.err != nil {
		return 0, cw.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	cw.buf = cw.buf[:0]
	prevCR := cw.lastCR
	for _, c := range p {
		if c == '\n' && !prevCR {
			cw.buf = append(cw.buf, '\r')
		}
		cw.buf = append(cw.buf, c)
		prevCR = c == '\r'
	}
	if _, err := cw.w.Write(cw.buf); err != nil {
		cw.err = err
		return 0, err
	}
	cw.lastCR = prevCR
	return len(p), nil
}

// printf formats to the console. A write error is kept in cw.err, which
// the shell checks after each step.
func (cw *consoleWriter) printf(format string, a ...any) {
	_, _ = fmt.Fprintf(cw, format, a...)
}

// writeJSON writes v as one line of JSON followed by "\n". encoding/json
// escapes control characters, so the line cannot be split by its data.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// maxNameShown is how many bytes of an unknown command name an error
// message repeats.
const maxNameShown = 32

// quoteName quotes an untrusted command name for an error message:
// at most maxNameShown bytes, with anything but printable ASCII escaped.
func quoteName(name string) string {
	if len(name) > maxNameShown {
		name = name[:maxNameShown] + "..."
	}
	return strconv.QuoteToASCII(name)
}

// oneLine makes s safe to print as a single console line: each line
// break (CR, LF or CRLF) becomes "; ", a TAB becomes a space and any
// other non-printable character or invalid UTF-8 byte is escaped.
func oneLine(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\r' || r == '\n':
			if r == '\r' && strings.HasPrefix(s[i+1:], "\n") {
				size++
			}
			b.WriteString("; ")
		case r == '\t':
			b.WriteByte(' ')
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unicode.IsPrint(r):
			if r < 0x80 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}
