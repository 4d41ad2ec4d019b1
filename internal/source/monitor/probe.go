package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBody is the most of a response body a check reads to look for
// body_contains.
const maxBody = 1 << 20

// userAgent identifies checks in the monitored service's logs.
const userAgent = "Herald-Monitor/1"

// result is the outcome of one check.
type result struct {
	// status is the HTTP status (0: no response).
	status int
	// err says why the check failed ("" when it passed).
	err     string
	latency time.Duration
}

func (r result) ok() bool { return r.err == "" }

// probe requests the monitor's URL once.
func (c *check) probe(ctx context.Context) result {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, c.cfg.Method, c.cfg.URL, nil)
	if err != nil {
		return result{err: "cannot build the request: " + cleanError(err)}
	}
	req.Header.Set("User-Agent", userAgent)
	for k, v := range c.cfg.Headers {
		req.Header.Set(k, v.Value())
	}
	// Latency is a measurement of real I/O, so it uses the real
	// (monotonic) clock, not the injected one that schedules checks.
	start := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		r := result{err: cleanError(err), latency: time.Since(start)}
		if errors.Is(err, context.DeadlineExceeded) {
			r.err = fmt.Sprintf("no answer within %s", c.cfg.Timeout)
		}
		return r
	}
	defer resp.Body.Close()
	r := result{status: resp.StatusCode}
	if !c.statusOK(resp.StatusCode) {
		r.err = fmt.Sprintf("status %d, want %s", resp.StatusCode, c.wantStatus())
	}
	if r.err == "" && c.cfg.BodyContains != "" {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		switch {
		case err != nil:
			r.err = "cannot read the body: " + cleanError(err)
		case !strings.Contains(string(body), c.cfg.BodyContains):
			r.err = fmt.Sprintf("the body does not contain %q", c.cfg.BodyContains)
		}
	} else {
		// Drain a little so the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	}
	r.latency = time.Since(start)
	return r
}

func (c *check) statusOK(status int) bool {
	if len(c.cfg.Status) == 0 {
		return status >= 200 && status <= 299
	}
	return slices.Contains(c.cfg.Status, status)
}

func (c *check) wantStatus() string {
	if len(c.cfg.Status) == 0 {
		return "2xx"
	}
	s := make([]string, len(c.cfg.Status))
	for i, v := range c.cfg.Status {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, " or ")
}

// cleanError drops the *url.Error wrapping, which repeats the URL (and
// any credentials in it).
func cleanError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// redactURL is the URL as events and logs show it: without user info and
// query, which may hold credentials.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return u.String()
}
