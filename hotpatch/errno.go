// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import (
	"errors"
	"fmt"
	"strconv"
)

// Errno is an error number as the livepatch interface reports it, both as
// the error returned by the Manager and as a payload's rc. The values are
// those of Xen's public errno.h (xen/include/public/errno.h), which match
// Linux's; rc holds the positive number, where Xen's sysctl stores its
// negation. Zero means success and is never returned as an error.
//
// An Errno is an error, so engines may return one directly or wrap it with
// fmt.Errorf("...: %w", EBUSY) to choose the rc a failure is recorded with.
type Errno int

// Error numbers used by the control plane (xen/include/public/errno.h).
// The table in docs/hotpatch.md says which operation returns which.
const (
	EPERM        Errno = 1   // payload refused by policy (for example a bad signature)
	ENOENT       Errno = 2   // no payload with that name
	EIO          Errno = 5   // code memory could not be read or written as expected
	E2BIG        Errno = 7   // List asked for more than MaxListNr entries
	ENOEXEC      Errno = 8   // payload is not in a format the engine understands
	EAGAIN       Errno = 11  // rc only: an action on this payload is pending
	ENOMEM       Errno = 12  // the engine could not allocate the payload
	EBUSY        Errno = 16  // another action is pending, or quiescing failed
	EEXIST       Errno = 17  // a payload with that name exists, or targets overlap
	EINVAL       Errno = 22  // bad argument, or action not allowed in this state
	ENAMETOOLONG Errno = 36  // name longer than MaxNameLen bytes
	ENOSYS       Errno = 38  // the engine cannot do this yet on this image
	ETIMEDOUT    Errno = 110 // the world could not be stopped within the timeout
)

var errnoNames = map[Errno]string{
	EPERM:        "EPERM",
	ENOENT:       "ENOENT",
	EIO:          "EIO",
	E2BIG:        "E2BIG",
	ENOEXEC:      "ENOEXEC",
	EAGAIN:       "EAGAIN",
	ENOMEM:       "ENOMEM",
	EBUSY:        "EBUSY",
	EEXIST:       "EEXIST",
	EINVAL:       "EINVAL",
	ENAMETOOLONG: "ENAMETOOLONG",
	ENOSYS:       "ENOSYS",
	ETIMEDOUT:    "ETIMEDOUT",
}

// String returns the C name of e ("EEXIST"), "OK" for zero, or
// "Errno(n)" for a number this package does not name.
func (e Errno) String() string {
	if e == 0 {
		return "OK"
	}
	if s, ok := errnoNames[e]; ok {
		return s
	}
	return "Errno(" + strconv.Itoa(int(e)) + ")"
}

// Error returns the C name of e, as String does.
func (e Errno) Error() string { return e.String() }

// Error is the error type of the package: an Errno, a message naming the
// payload and the operation, and optionally the engine error that caused
// it. errors.Is(err, EEXIST) and errors.As(err, new(Errno)) see the Errno;
// errors.Is and errors.As also see the cause.
type Error struct {
	Errno Errno  // never zero
	Msg   string // what was refused or failed, naming the payload
	Err   error  // the engine's error, or nil
}

// Error formats the error as "hotpatch: <msg>[: <cause>] (<ERRNO>)".
func (e *Error) Error() string {
	s := "hotpatch: " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s + " (" + e.Errno.String() + ")"
}

// Unwrap returns the Errno and, when there is one, the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Errno}
	}
	return []error{e.Errno, e.Err}
}

// errorf builds an *Error with a formatted message and no cause.
func errorf(n Errno, format string, args ...any) *Error {
	return &Error{Errno: n, Msg: fmt.Sprintf(format, args...)}
}

// errnoOf returns the Errno carried by err (an Errno anywhere in its chain),
// or def when err carries none. EAGAIN is reserved for "pending" and zero
// for success, so an engine error carrying either is reported as def.
func errnoOf(err error, def Errno) Errno {
	var n Errno
	if errors.As(err, &n) && n != 0 && n != EAGAIN {
		return n
	}
	return def
}
