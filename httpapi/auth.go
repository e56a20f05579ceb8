package httpapi

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
)

// principal is who made a request.
type principal struct {
	admin   bool
	account string // the account of an account key
}

// authenticate identifies the caller from the Authorization header. With
// no admin token configured, everyone is admin.
func (s *Server) authenticate(r *request) *apiError {
	if s.cfg.AdminToken == "" {
		r.who = principal{admin: true}
		return nil
	}
	h := r.ctx.Request.Header.Peek("Authorization")
	const scheme = "bearer "
	if len(h) <= len(scheme) || !bytes.EqualFold(h[:len(scheme)], []byte(scheme)) {
		r.ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="chatstate"`)
		return &apiError{status: 401, code: codeUnauthorized, message: "missing or malformed Authorization header: expected \"Bearer <token>\""}
	}
	token := bytes.TrimSpace(h[len(scheme):])
	if subtle.ConstantTimeCompare(token, []byte(s.cfg.AdminToken)) == 1 {
		r.who = principal{admin: true}
		return nil
	}
	account, _, ok := s.backend.FSM().KeyAccount(sha256.Sum256(token))
	if !ok {
		r.ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="chatstate", error="invalid_token"`)
		return &apiError{status: 401, code: codeUnauthorized, message: "the token is not valid"}
	}
	r.who = principal{account: account}
	return nil
}

func (s *Server) authorize(r *request, sc scope) *apiError {
	if r.who.admin || sc == scopeOpen || sc == scopeAny {
		return nil
	}
	if sc == scopeAccount && r.who.account == r.account {
		return nil
	}
	if sc == scopeAdmin {
		return &apiError{status: 403, code: codeForbidden, message: "this operation needs the admin token"}
	}
	return &apiError{status: 403, code: codeForbidden, message: fmt.Sprintf("this key is not valid for account %s", quote(r.account))}
}

// RequireTokenForAddr returns ErrTokenRequired when addr is not a loopback
// address, no admin token is configured and the operator did not ask for
// an insecure server. A host name other than localhost counts as
// non-loopback, and so does an empty host (all interfaces).
func RequireTokenForAddr(addr, token string, insecure bool) error {
	if token != "" || insecure {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("httpapi: address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w (address %s)", ErrTokenRequired, addr)
}
