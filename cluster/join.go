package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// ErrJoinRefused means a member answered the join with an error that
// retrying will not fix (a 4xx other than a redirect).
var ErrJoinRefused = errors.New("cluster: join refused")

// JoinRequest is the body of POST /v1/cluster/join.
type JoinRequest struct {
	ID   string `json:"id"`
	Raft string `json:"raft"`
	HTTP string `json:"http"`
}

// JoinConfig says how a node joins.
type JoinConfig struct {
	// Members are HTTP addresses (host:port) of cluster members, tried in
	// turn.
	Members []string
	// AdminToken is sent as a bearer token when authentication is on.
	AdminToken string
	// RetryInterval is the pause between rounds over all members; a
	// cluster that is electing a leader answers 503 for a moment.
	RetryInterval time.Duration
	// RequestTimeout bounds each HTTP request.
	RequestTimeout time.Duration
	// MaxRedirects bounds how many times one attempt follows a follower's
	// redirect to the leader.
	MaxRedirects int
	Logger       *slog.Logger
}

// DefaultJoinConfig returns settings suited to a local network.
func DefaultJoinConfig() JoinConfig {
	return JoinConfig{
		RetryInterval:  500 * time.Millisecond,
		RequestTimeout: 10 * time.Second,
		MaxRedirects:   5,
	}
}

// Join asks the members to add req's node as a voter, until one of them
// (the leader, possibly reached through a redirect) answers 200 or ctx
// ends. Members that are down, have no leader or answer 5xx are retried;
// a 4xx answer is final and returned wrapped in ErrJoinRefused.
func Join(ctx context.Context, cfg JoinConfig, req JoinRequest) error {
	if len(cfg.Members) == 0 {
		return fmt.Errorf("cluster: join: no members given")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("cluster: join: %w", err)
	}
	client := &fasthttp.Client{
		Name:                "chatstated-join",
		MaxIdleConnDuration: time.Second,
	}
	var lastErr error
	for {
		for _, member := range cfg.Members {
			err := joinOnce(ctx, client, cfg, member, body)
			if err == nil {
				logger.Info("joined the cluster", "via", member)
				return nil
			}
			if errors.Is(err, ErrJoinRefused) {
				return err
			}
			lastErr = err
			logger.Warn("join attempt failed", "member", member, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: join: %w (last error: %v)", ctx.Err(), lastErr)
		case <-time.After(cfg.RetryInterval):
		}
	}
}

// joinOnce posts the join to one member, following redirects to the
// leader.
func joinOnce(ctx context.Context, client *fasthttp.Client, cfg JoinConfig, member string, body []byte) error {
	target := "http://" + member + "/v1/cluster/join"
	for hop := 0; hop <= cfg.MaxRedirects; hop++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		status, location, respBody, err := post(client, cfg, target, body)
		if err != nil {
			return fmt.Errorf("post %s: %w", target, err)
		}
		switch {
		case status == fasthttp.StatusOK:
			return nil
		case status == fasthttp.StatusTemporaryRedirect || status == fasthttp.StatusPermanentRedirect:
			if location == "" {
				return fmt.Errorf("%s answered %d without Location", target, status)
			}
			u, err := url.Parse(location)
			if err != nil || u.Host == "" {
				return fmt.Errorf("%s redirected to a bad Location %q", target, location)
			}
			target = location
		case status >= 400 && status < 500:
			return fmt.Errorf("%w: %s answered %d: %s", ErrJoinRefused, target, status, strings.TrimSpace(string(respBody)))
		default:
			return fmt.Errorf("%s answered %d: %s", target, status, strings.TrimSpace(string(respBody)))
		}
	}
	return fmt.Errorf("too many redirects from %s", member)
}

func post(client *fasthttp.Client, cfg JoinConfig, target string, body []byte) (status int, location string, respBody []byte, err error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(target)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	if cfg.AdminToken != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.AdminToken)
	}
	req.SetBody(body)
	if err := client.DoTimeout(req, resp, cfg.RequestTimeout); err != nil {
		return 0, "", nil, err
	}
	return resp.StatusCode(), string(resp.Header.Peek("Location")), append([]byte(nil), resp.Body()...), nil
}
