// hv/shell: the operator shell on tamavisor's serial console.
// SPDX-License-Identifier: BSD-3-Clause

package shell

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnterminatedQuote reports a quoted word that is not closed before
// the end of the line. Split wraps it with the quote and its column.
var ErrUnterminatedQuote = errors.New("unterminated quote")

// Split breaks a command line into words.
//
// Words are separated by runs of spaces, tabs, CR, LF, VT or FF. A word
// may contain quoted parts, joined to whatever touches them:
//
//   - '...' is taken literally;
//   - "..." is taken literally except that \" stands for " and \\ for \
//     (a backslash before any other character is kept).
//
// Outside quotes a backslash is an ordinary character. A pair of empty
// quotes gives an empty word. An empty or blank line gives no words and
// no error; a quote left open is an error wrapping ErrUnterminatedQuote.
func Split(line string) ([]string, error) {
	var (
		words  []string
		word   strings.Builder
		inWord bool // a word has started, even if it is still empty
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch c {
		case ' ', '\t', '\r', '\n', '\v', '\f':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case '\'':
			inWord = true
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, unterminated(c, i)
			}
			word.WriteString(line[i+1 : i+1+j])
			i += 1 + j
		case '"':
			inWord = true
			start := i
			for i++; ; i++ {
				if i >= len(line) {
					return nil, unterminated(c, start)
				}
				if line[i] == '"' {
					break
				}
				if line[i] == '\\' && i+1 < len(line) &&
					(line[i+1] == '"' || line[i+1] == '\\') {
					i++
				}
				word.WriteByte(line[i])
			}
		default:
			inWord = true
			word.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

func unterminated(quote byte, pos int) error {
	return fmt.Errorf("%w (%c at column %d)", ErrUnterminatedQuote, quote, pos+1)
}
