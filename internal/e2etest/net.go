package e2etest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

var ports struct {
	mu     sync.Mutex
	handed map[int]bool
}

// FreePort returns a TCP port on 127.0.0.1 that was free when asked and has
// not been handed out before in this test process.
func FreePort(t testing.TB) int {
	t.Helper()
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.handed == nil {
		ports.handed = map[int]bool{}
	}
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if !ports.handed[port] {
			ports.handed[port] = true
			return port
		}
	}
	t.Fatal("could not find a free port not handed out before")
	return 0
}

// FreeAddr returns "127.0.0.1:<free port>".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(FreePort(t))
}

// RequirePortsFree fails the test when one of the ports on 127.0.0.1 is
// taken, naming it: tests on fixed ports cannot run next to another
// process that holds them.
func RequirePortsFree(t testing.TB, ports ...int) {
	t.Helper()
	for _, p := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d on 127.0.0.1 is already in use (%v); this test runs otelcol-release on its fixed default ports: stop whatever listens there", p, err)
		}
		_ = ln.Close()
	}
}

// exiter is what the wait helpers watch to give up early; *Process is one.
type exiter interface {
	Exited() bool
	Pid() int
}

// WaitForURL polls url with GET until it answers 2xx, for at most timeout.
// It gives up early when p (optional) exits.
func WaitForURL(url string, timeout time.Duration, p exiter) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("pid %d exited while waiting for %s (last: %s)", p.Pid(), url, last)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 2xx within %s (last: %s)", url, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitForListen waits until addr (host:port) accepts TCP connections.
func WaitForListen(addr string, timeout time.Duration, p exiter) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("pid %d exited while waiting for %s to listen", p.Pid(), addr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections within %s: %v", addr, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Listening reports whether addr accepts a TCP connection right now.
func Listening(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// Response is an HTTP answer, body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it is not JSON.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("answer %d is not JSON (%v): %s", r.Status, err, r.Body)
	}
}

// Map decodes a JSON object body.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// client has no keep-alive, so a restarted process never meets a stale
// connection.
var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// Do sends a request with the body and headers given as name/value pairs
// and returns the answer; a transport error fails the test.
func Do(t testing.TB, method, url string, body []byte, headers ...string) *Response {
	t.Helper()
	resp, err := DoErr(method, url, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp
}

// DoErr is Do returning the transport error.
func DoErr(method, url string, body []byte, headers ...string) (*Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Get is Do with GET and no body.
func Get(t testing.TB, url string, headers ...string) *Response {
	t.Helper()
	return Do(t, http.MethodGet, url, nil, headers...)
}

// PostJSON is Do with POST and Content-Type application/json (unless the
// headers set another).
func PostJSON(t testing.TB, url string, body []byte, headers ...string) *Response {
	t.Helper()
	return Do(t, http.MethodPost, url, body, append([]string{"Content-Type", "application/json"}, headers...)...)
}
