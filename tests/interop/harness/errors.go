package harness

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrnoOf extracts a unix.Errno from err (0 if none).
func ErrnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// ErrName describes err for a report: "success", "ENOENT (no such file or
// directory)", or the error's text.
func ErrName(err error) string {
	if err == nil {
		return "success"
	}
	if e := ErrnoOf(err); e != 0 {
		return fmt.Sprintf("%s (%s)", unix.ErrnoName(e), e.Error())
	}
	return err.Error()
}

// WantErrno returns nil if err is one of the wanted errnos.
func WantErrno(err error, want ...unix.Errno) error {
	got := ErrnoOf(err)
	for _, w := range want {
		if err != nil && got == w {
			return nil
		}
	}
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = unix.ErrnoName(w)
	}
	return fmt.Errorf("got %s, want %s", ErrName(err), strings.Join(names, " or "))
}

// Wrap returns nil for a nil err, else "what: ErrName(err)".
func Wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %s", what, ErrName(err))
}

// Errs collects mismatches within one check.
type Errs []string

// Add records a mismatch.
func (e *Errs) Add(format string, args ...any) { *e = append(*e, fmt.Sprintf(format, args...)) }

// Want records a mismatch if err is not one of the wanted errnos.
func (e *Errs) Want(what string, err error, want ...unix.Errno) {
	if w := WantErrno(err, want...); w != nil {
		e.Add("%s: %v", what, w)
	}
}

// OK records err (if any) as a failure of what, and reports whether there
// was none.
func (e *Errs) OK(what string, err error) bool {
	if err != nil {
		e.Add("%s: %s", what, ErrName(err))
		return false
	}
	return true
}

// Err returns the mismatches as one error, or nil if there are none.
func (e *Errs) Err() error {
	if len(*e) == 0 {
		return nil
	}
	return errors.New(strings.Join(*e, "; "))
}
