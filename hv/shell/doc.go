// hv/shell: the operator shell on tamavisor's serial console.
// SPDX-License-Identifier: BSD-3-Clause

// Package shell is the operator shell on tamavisor's serial console: a
// line reader that survives a noisy UART, a small word splitter, a command
// table with a built-in `help`, and the standard commands (`info`, `mem`,
// `uptime`, `poweroff`) that report on an hv.Platform.
//
// Everything that arrives on the console is untrusted: garbage bytes,
// over-long lines and panicking commands become one-line error messages,
// never a dead shell.
//
// The package is plain portable Go with no build tags, no unsafe and no
// assembly. It runs on every target (arm64 and amd64 under TamaGo) and on
// the host, where tests and the fuzzers drive it with in-memory streams.
//
// # Output conventions
//
// Commands write lines ending in "\n" to Context.Out. The shell converts
// every "\n" to "\r\n" on its way to the console, as serial terminals
// expect, so the console only ever sees "\r\n" line endings. Every error
// is exactly one line: "error: <message>", or {"error":"<message>"} when
// the command line carried --json. A host harness can match lines with a
// regular expression that accepts an optional trailing "\r".
package shell
