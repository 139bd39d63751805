package lifecycle

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrShutdown matches every error that reports a shutdown: the runtime's
	// cause ([*ShutdownError]) and the refusals of [Runtime.Go],
	// [Runtime.Reload] and [Runtime.Start] once shutdown has begun.
	ErrShutdown = errors.New("lifecycle: shutting down")

	// ErrNotRunning is returned by [Runtime.Reload] before the runtime has
	// started.
	ErrNotRunning = errors.New("lifecycle: runtime not running")

	// ErrDuplicateName is wrapped by the errors about a provider or task
	// whose name is already taken.
	ErrDuplicateName = errors.New("lifecycle: duplicate name")

	// ErrGateClosed is returned by [Gate.Enter] once the gate refuses new
	// work: after [Gate.Close], which the runtime calls when shutdown begins.
	ErrGateClosed = errors.New("lifecycle: gate closed")
)

// ShutdownError is the cause of a runtime's shutdown, as returned by
// [Runtime.Cause] and by context.Cause on [Runtime.Context]. It matches
// [ErrShutdown] under errors.Is and unwraps to the error that caused the
// shutdown, if any.
type ShutdownError struct {
	// Reason says why, for people: "signal: terminated".
	Reason string
	// Err is the error behind the shutdown; nil for a plain request.
	Err error
	// ExitCode is the exit code requested for the process; 0 if none.
	ExitCode int
}

// Error implements error: "lifecycle: shutdown: " and the reason, then
// the cause's message, which replaces the reason when it begins with it
// (a failed task's cause names the task and says it failed).
func (e *ShutdownError) Error() string {
	if e.Err == nil {
		return pkgPrefix + "shutdown: " + e.Reason
	}
	cause := inner(e.Err)
	if e.Reason == "" || strings.HasPrefix(cause, e.Reason) {
		return pkgPrefix + "shutdown: " + cause
	}
	return pkgPrefix + "shutdown: " + e.Reason + ": " + cause
}

// Unwrap returns the error behind the shutdown.
func (e *ShutdownError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrShutdown].
func (e *ShutdownError) Is(target error) bool { return target == ErrShutdown }

// Phase names the provider method an error came from.
type Phase string

// The phases of a provider.
const (
	PhaseBoot     Phase = "boot"
	PhaseValidate Phase = "validate"
	PhaseReload   Phase = "reload"
	PhaseStop     Phase = "stop"
)

// ProviderError is the failure of one provider in one phase. Start, Stop
// and Reload return it (alone, joined, or inside a [*ReloadError]).
type ProviderError struct {
	// Provider is the provider's name.
	Provider string
	// Phase is the method that failed.
	Phase Phase
	// Err is what it returned, a [*PanicError] if it panicked, or the
	// context's error if it did not return within its budget.
	Err error
}

// Error implements error.
func (e *ProviderError) Error() string {
	return fmt.Sprintf("lifecycle: provider %q: %s: %s", e.Provider, e.Phase, inner(e.Err))
}

// Unwrap returns the provider's error.
func (e *ProviderError) Unwrap() error { return e.Err }

// ReloadError is the result of a reload in which at least one provider
// failed. When Applied is false validation failed and no provider was
// reloaded.
type ReloadError struct {
	// Applied reports whether the reload phase ran (validation passed).
	Applied bool
	// Errors has one entry per failing provider, in provider order.
	Errors []*ProviderError
}

// Error implements error.
func (e *ReloadError) Error() string {
	var b strings.Builder
	if e.Applied {
		b.WriteString("lifecycle: reload failed: ")
	} else {
		b.WriteString("lifecycle: reload rejected, nothing changed: ")
	}
	for i, pe := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(inner(pe))
	}
	return b.String()
}

// Unwrap returns the provider errors.
func (e *ReloadError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, pe := range e.Errors {
		errs[i] = pe
	}
	return errs
}

// PanicError is a recovered panic of a task or provider, with the stack of
// the goroutine that panicked.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the goroutine's stack at the panic, as debug.Stack formats it.
	Stack []byte
}

// Error implements error; it includes the stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("panic: %v\n\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// TaskError is the failure of one run of a supervised task.
type TaskError struct {
	// Task is the task's name.
	Task string
	// Attempt counts the task's runs, from 1.
	Attempt int
	// Err is what the task returned, or a [*PanicError].
	Err error
}

// Error implements error.
func (e *TaskError) Error() string {
	return fmt.Sprintf("lifecycle: task %q failed (attempt %d): %s", e.Task, e.Attempt, inner(e.Err))
}

// Unwrap returns the task's error.
func (e *TaskError) Unwrap() error { return e.Err }

// BudgetError reports a restarting task that failed more often than its
// budget allows; the runtime escalates it to a shutdown.
type BudgetError struct {
	// Task is the task's name.
	Task string
	// Failures is the number of failures counted within Window.
	Failures int
	// Window is the budget's window.
	Window time.Duration
	// Last is the last failure.
	Last error
}

// Error implements error. The last failure of the task itself is told by
// its attempt and error: the task is named once.
func (e *BudgetError) Error() string {
	last := "the last: "
	var te *TaskError
	if e.Last == nil {
		return fmt.Sprintf("lifecycle: task %q exhausted its restart budget: %d failures within %v", e.Task, e.Failures, e.Window)
	}
	if errors.As(e.Last, &te) && te.Task == e.Task && te.Err != nil {
		last = fmt.Sprintf("the last (attempt %d): %s", te.Attempt, inner(te.Err))
	} else {
		last += inner(e.Last)
	}
	return fmt.Sprintf("lifecycle: task %q exhausted its restart budget: %d failures within %v, %s", e.Task, e.Failures, e.Window, last)
}

// Unwrap returns the last failure.
func (e *BudgetError) Unwrap() error { return e.Last }

// Straggler is a task that had not returned when the runtime stopped
// waiting for it.
type Straggler struct {
	// Name is the task's name.
	Name string
	// Waited is how long the runtime waited for it after cancelling it.
	Waited time.Duration
}

// DrainError reports the tasks that did not return within the stop budget.
// Go cannot abort a goroutine: they keep running, and the application goes
// on stopping.
type DrainError struct {
	Stragglers []Straggler
}

// Error implements error.
func (e *DrainError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lifecycle: %d task(s) did not return after cancellation:", len(e.Stragglers))
	for i, s := range e.Stragglers {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %q (waited %v)", s.Name, s.Waited)
	}
	return b.String()
}
