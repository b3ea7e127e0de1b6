package e2etest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options configure a started process.
type Options struct {
	// Args are the command-line arguments.
	Args []string
	// Env holds KEY=VALUE pairs added to (and overriding) the test's
	// environment.
	Env []string
	// Dir is the working directory; a new temporary directory when empty.
	Dir string
	// StopTimeout bounds a graceful stop before the process is killed;
	// 15 s when zero.
	StopTimeout time.Duration
	// CgroupProcs, when set, is a cgroup's cgroup.procs file the process
	// joins before it runs bin (a shell writes its pid there, then execs
	// bin under the same pid), so the group's limits hold from its first
	// allocation.
	CgroupProcs string
}

// Process is a running otelcol-release (or any other binary). Its stdout
// and stderr go, interleaved, to an in-memory buffer and to a log file in
// its working directory.
type Process struct {
	t       testing.TB
	cmd     *exec.Cmd
	out     *syncBuffer
	logFile *os.File
	logPath string
	dir     string
	stopTO  time.Duration

	done    chan struct{}
	waitErr error
}

// Start starts bin with the options and registers a cleanup that stops it
// (SIGTERM, then SIGKILL after the stop timeout) and, when the test failed,
// logs the tail of its output.
func Start(t testing.TB, bin string, opts Options) *Process {
	t.Helper()
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	logPath := filepath.Join(dir, fmt.Sprintf("%s-%d.log", filepath.Base(bin), time.Now().UnixNano()))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("creating the process log: %v", err)
	}
	p := &Process{
		t: t, out: &syncBuffer{}, logFile: logFile, logPath: logPath, dir: dir,
		stopTO: opts.StopTimeout, done: make(chan struct{}),
	}
	if p.stopTO == 0 {
		p.stopTO = 15 * time.Second
	}
	w := &teeWriter{buf: p.out, file: logFile}
	if opts.CgroupProcs != "" {
		p.cmd = exec.Command("/bin/sh", append([]string{"-c", `echo $$ > "$0" && exec "$@"`, opts.CgroupProcs, bin}, opts.Args...)...)
	} else {
		p.cmd = exec.Command(bin, opts.Args...)
	}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), opts.Env...)
	p.cmd.Stdout = w
	p.cmd.Stderr = w
	if err := p.cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("starting %s %s: %v", bin, strings.Join(opts.Args, " "), err)
	}
	t.Logf("started %s %s (pid %d) in %s", filepath.Base(bin), strings.Join(opts.Args, " "), p.cmd.Process.Pid, dir)
	go func() {
		p.waitErr = p.cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			if err := p.Stop(); err != nil {
				t.Logf("stopping pid %d: %v", p.Pid(), err)
			}
		}
		if t.Failed() {
			t.Logf("last 80 lines of output of pid %d (%s):\n%s", p.Pid(), strings.Join(opts.Args, " "), p.Tail(80))
		}
	})
	return p
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Dir is the working directory.
func (p *Process) Dir() string { return p.dir }

// LogPath is the file the output is written to.
func (p *Process) LogPath() string { return p.logPath }

// Output returns everything written to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Tail returns the last n lines of the output.
func (p *Process) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Output(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode is the exit code once the process exited (-1 when killed by a
// signal or still running).
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Wait waits up to timeout for the process to exit and returns its exit
// error (nil for exit code 0).
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(timeout):
		return fmt.Errorf("pid %d still running after %s", p.Pid(), timeout)
	}
}

// Stop sends SIGTERM and waits for a graceful exit; after the stop timeout
// it kills the process. It returns nil only for a clean exit (code 0).
func (p *Process) Stop() error {
	if p.Exited() {
		return p.waitErr
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(p.stopTO):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("pid %d did not exit within %s of SIGTERM and was killed", p.Pid(), p.stopTO)
	}
}

// Kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// WaitForOutput waits until the output contains s, failing early if the
// process exits first.
func (p *Process) WaitForOutput(s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(p.Output(), s) {
			return nil
		}
		if p.Exited() {
			if strings.Contains(p.Output(), s) {
				return nil
			}
			return fmt.Errorf("pid %d exited (%v) before writing %q", p.Pid(), p.waitErr, s)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d did not write %q within %s", p.Pid(), s, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RequireReady waits until every URL answers 2xx, failing the test with the
// output tail if one does not within timeout or the process exits.
func (p *Process) RequireReady(timeout time.Duration, urls ...string) {
	p.t.Helper()
	for _, u := range urls {
		if err := WaitForURL(u, timeout, p); err != nil {
			p.t.Fatalf("%v\nlast lines of output:\n%s", err, p.Tail(40))
		}
	}
}

// RequireListening waits until every host:port accepts TCP connections.
func (p *Process) RequireListening(timeout time.Duration, addrs ...string) {
	p.t.Helper()
	for _, a := range addrs {
		if err := WaitForListen(a, timeout, p); err != nil {
			p.t.Fatalf("%v\nlast lines of output:\n%s", err, p.Tail(40))
		}
	}
}

// Result is the outcome of a command run to completion.
type Result struct {
	Output   string // stdout and stderr, interleaved
	Stdout   string
	Stderr   string
	ExitCode int
}

// Run runs bin to completion (at most timeout, 2 minutes when zero) with
// the options' args, env and dir and returns its output and exit code.
func Run(t testing.TB, bin string, opts Options, timeout time.Duration) Result {
	t.Helper()
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, opts.Args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), opts.Env...)
	var all syncBuffer
	var stdout, stderr bytes.Buffer
	cmd.Stdout = io.MultiWriter(&all, &stdout)
	cmd.Stderr = io.MultiWriter(&all, &stderr)
	err := cmd.Run()
	res := Result{Output: all.String(), Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: -1}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within %s; output:\n%s", filepath.Base(bin), strings.Join(opts.Args, " "), timeout, res.Output)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running %s %s: %v", bin, strings.Join(opts.Args, " "), err)
	}
	return res
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// teeWriter writes to the buffer and, best effort, to the log file.
type teeWriter struct {
	buf  *syncBuffer
	file *os.File
}

func (w *teeWriter) Write(p []byte) (int, error) {
	_, _ = w.file.Write(p)
	return w.buf.Write(p)
}
