package app

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/herald-notify/herald/internal/ack"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/store"
)

// ackKeyState is where the key that signs acknowledgment links is kept:
// in the database, so every node (and every restart) signs alike.
const ackKeyState = "server/ack-key"

// ackTTL is how long an acknowledgment link stays valid.
const ackTTL = 7 * 24 * time.Hour

// loadAckKey returns the link-signing key, creating it on first start.
func loadAckKey(ctx context.Context, st store.Store) ([]byte, error) {
	key, err := st.GetState(ctx, ackKeyState)
	if err == nil && len(key) >= 32 {
		return key, nil
	}
	if err != nil && herald.ErrorCode(err) != herald.ENOTFOUND {
		return nil, fmt.Errorf("load acknowledgment key: %w", err)
	}
	key = make([]byte, 32)
	rand.Read(key)
	if err := st.PutState(ctx, ackKeyState, key); err != nil {
		return nil, fmt.Errorf("store acknowledgment key: %w", err)
	}
	return key, nil
}

// ackURL returns the acknowledgment link of a run.
func (a *App) ackURL(signer *ack.Signer) func(runID string) string {
	return func(runID string) string {
		cfg := a.Config()
		base := strings.TrimRight(cfg.Server.PublicURL, "/")
		// A public URL derived from server.listen is wrong when --listen
		// overrides it (or picks a free port): use the real address.
		if u, err := url.Parse(base); base == "" || (err == nil && a.opts.Listen != "" && u.Host == cfg.Server.Listen) {
			base = "http://" + a.Addr()
		}
		return base + "/ack/" + signer.Token(runID, a.opts.Now())
	}
}
