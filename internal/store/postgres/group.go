package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-notify/herald/internal/store"
)

// Group commit for ingestion. Concurrent Ingest calls (one per HTTP
// request) are gathered by a few committer goroutines and stored in one
// transaction each time, so a burst of events shares the round trips and
// the WAL flush instead of paying them per event. A group whose commit
// fails is retried one call at a time, so each call stays all or nothing
// and one bad call cannot fail the others.

const (
	// committers is how many group transactions may be in flight at once
	// per node: enough to keep the pool busy while one waits for its
	// commit.
	committers = 4
	// maxGroupItems bounds the events of one group transaction.
	maxGroupItems = 256
)

type ingestReq struct {
	items  []store.IngestItem
	window time.Duration
	res    []store.IngestResult
	err    error
	done   chan struct{}
}

type grouper struct {
	s    *Store
	reqs chan *ingestReq
	quit chan struct{}
	wg   sync.WaitGroup
	// mu is held (shared) from the closed check until a call is queued,
	// and (exclusive) by close, so nothing is queued after the
	// committers have drained the queue and exited.
	mu     sync.RWMutex
	closed bool
}

func newGrouper(s *Store) *grouper {
	g := &grouper{s: s, reqs: make(chan *ingestReq, 4096), quit: make(chan struct{})}
	for range committers {
		g.wg.Add(1)
		go g.run()
	}
	return g
}

// ingest queues a call and waits for its outcome. Once queued, a call is
// attempted even if ctx ends, and the caller waits for it: it must never
// report a failure for events that were committed.
func (g *grouper) ingest(ctx context.Context, items []store.IngestItem, window time.Duration) ([]store.IngestResult, error) {
	r := &ingestReq{items: items, window: window, done: make(chan struct{})}
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return nil, errClosed
	}
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		g.mu.RUnlock()
		return nil, ctx.Err()
	}
	g.mu.RUnlock()
	<-r.done
	return r.res, r.err
}

func (g *grouper) run() {
	defer g.wg.Done()
	for {
		var first *ingestReq
		select {
		case first = <-g.reqs:
		case <-g.quit:
			// Serve what was queued before Close.
			for {
				select {
				case r := <-g.reqs:
					g.commit([]*ingestReq{r})
				default:
					return
				}
			}
		}
		group := []*ingestReq{first}
		n := len(first.items)
	fill:
		for n < maxGroupItems {
			select {
			case r := <-g.reqs:
				group = append(group, r)
				n += len(r.items)
			default:
				break fill
			}
		}
		g.commit(group)
	}
}

// commit stores a group in one transaction, or each call alone if that
// fails (or if the calls do not share a deduplication window).
func (g *grouper) commit(group []*ingestReq) {
	ctx := context.Background()
	if len(group) > 1 && sameWindow(group) {
		var all []store.IngestItem
		for _, r := range group {
			all = append(all, r.items...)
		}
		var res []store.IngestResult
		err := g.s.tx(ctx, func(tx pgx.Tx) error {
			var err error
			res, err = g.s.ingestTx(ctx, tx, all, group[0].window)
			return err
		})
		if err == nil {
			off := 0
			for _, r := range group {
				r.res = res[off : off+len(r.items)]
				off += len(r.items)
				close(r.done)
			}
			return
		}
	}
	for _, r := range group {
		r.res, r.err = g.s.ingestAlone(ctx, r.items, r.window)
		close(r.done)
	}
}

func sameWindow(group []*ingestReq) bool {
	for _, r := range group[1:] {
		if r.window != group[0].window {
			return false
		}
	}
	return true
}

func (g *grouper) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	close(g.quit)
	g.wg.Wait()
}
