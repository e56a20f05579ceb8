package cluster_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// reply is an HTTP answer, copied out of fasthttp's buffers.
type reply struct {
	status int
	header map[string]string // the headers the tests look at
	body   []byte
}

// call sends one request and does not follow redirects.
func call(t testing.TB, method, url, body string) reply {
	t.Helper()
	r, err := tryCall(method, url, body, nil, 10*time.Second)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

// tryCall is call that returns transport errors instead of failing.
func tryCall(method, url, body string, header map[string]string, timeout time.Duration) (reply, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.SetMethod(method)
	// A fresh connection per call: the tests kill and restart nodes at the
	// same address, and a pooled connection to a killed process fails a
	// non-idempotent request (fasthttp retries only GET, HEAD and PUT).
	req.SetConnectionClose()
	if body != "" {
		req.Header.SetContentType("application/json") // header may override it
		req.SetBodyString(body)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if err := fasthttp.DoTimeout(req, resp, timeout); err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode(), header: map[string]string{}, body: append([]byte(nil), resp.Body()...)}
	for _, h := range []string{"Location", "X-Leader", "X-Index", "Retry-After", "Content-Type", "Idempotent-Replayed"} {
		if v := resp.Header.Peek(h); v != nil {
			r.header[h] = string(v)
		}
	}
	return r, nil
}

// errorCode returns the API error's code in a reply body, "" if none.
func (r reply) errorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (r reply) String() string {
	return strings.TrimSpace(string(r.body))
}

// decode unmarshals a reply's JSON body into v.
func decode(t testing.TB, r reply, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}
