package engine

import (
	"container/heap"
	"sync"
	"time"
)

// job is one unit of work held in memory: a claimed run or message.
type job struct {
	priority int
	seq      uint64
	// leaseUntil is when the job's lease ends; a job popped too close to
	// it is dropped, because another worker may take it over at any
	// moment (the poller reclaims it once the lease has run out).
	leaseUntil time.Time
	run        func()
}

type jobHeap []*job

func (h jobHeap) Len() int { return len(h) }
func (h jobHeap) Less(i, j int) bool {
	if h[i].priority != h[j].priority {
		return h[i].priority > h[j].priority
	}
	return h[i].seq < h[j].seq
}
func (h jobHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *jobHeap) Push(x any)   { *h = append(*h, x.(*job)) }
func (h *jobHeap) Pop() any {
	old := *h
	n := len(old)
	j := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return j
}

// pool runs jobs with at most limit at once, highest priority first.
// Workers are started on demand and exit when the queue is empty, so an
// idle channel costs no goroutines and a limit change applies at once.
type pool struct {
	name     string
	mu       sync.Mutex
	queue    jobHeap
	seq      uint64
	limit    int
	capacity int // the most jobs queued or running: beyond it, work stays in the database
	reserved int
	running  int // worker goroutines alive
	busy     int // workers inside a job
	stopped  bool
	wg       sync.WaitGroup
	now      func() time.Time
	margin   time.Duration
	dropped  func()
}

// newPool returns a pool. margin is how much lease a job must have left
// when a worker takes it: at least the time the job may take, so that the
// lease cannot expire (and the job be claimed again elsewhere) while it runs.
func newPool(name string, limit, capacity int, now func() time.Time, margin time.Duration) *pool {
	if limit < 1 {
		limit = 1
	}
	return &pool{name: name, limit: limit, capacity: capacity, now: now, margin: margin}
}

// setMargin changes the lease margin (see newPool).
func (p *pool) setMargin(d time.Duration) {
	p.mu.Lock()
	p.margin = d
	p.mu.Unlock()
}

// setLimit changes the concurrency limit.
func (p *pool) setLimit(n int) {
	if n < 1 {
		n = 1
	}
	p.mu.Lock()
	p.limit = n
	p.spawnLocked()
	p.mu.Unlock()
}

// reserve books room for n jobs about to be handed over in-process; it
// returns how many it booked. Unbooked work is left for the poller.
func (p *pool) reserve(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return 0
	}
	free := p.capacity - len(p.queue) - p.running - p.reserved
	if free <= 0 {
		return 0
	}
	n = min(n, free)
	p.reserved += n
	return n
}

// release returns n reservations that were not used.
func (p *pool) release(n int) {
	p.mu.Lock()
	p.reserved -= n
	p.mu.Unlock()
}

// push queues a job; reserved says whether it uses a reservation.
func (p *pool) push(j *job, reserved bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if reserved {
		p.reserved--
	}
	if p.stopped {
		return // the lease expires and the work is taken up again later
	}
	p.seq++
	j.seq = p.seq
	heap.Push(&p.queue, j)
	p.spawnLocked()
}

func (p *pool) spawnLocked() {
	for p.running < p.limit && len(p.queue) > p.running-p.busy {
		p.running++
		p.wg.Add(1)
		go p.work()
	}
}

func (p *pool) work() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		if len(p.queue) == 0 || p.running > p.limit {
			p.running--
			p.mu.Unlock()
			return
		}
		j := heap.Pop(&p.queue).(*job)
		if !j.leaseUntil.IsZero() && p.now().Add(p.margin).After(j.leaseUntil) {
			p.mu.Unlock()
			if p.dropped != nil {
				p.dropped()
			}
			continue
		}
		p.busy++
		p.mu.Unlock()
		j.run()
		p.mu.Lock()
		p.busy--
		p.mu.Unlock()
	}
}

// depth returns the number of queued and running jobs.
func (p *pool) depth() (queued, running int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue), p.running
}

// reservations returns the slots reserved for jobs on their way (claimed
// from the store, or created by a commit in flight) but not pushed yet.
func (p *pool) reservations() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reserved
}

// stop stops taking new jobs and waits until the queued and running
// ones are done. Call abandon to give up on the queued ones.
func (p *pool) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.wg.Wait()
}

// abandon drops the queued jobs: their leases lapse and they are taken
// up again from the database later (after a restart).
func (p *pool) abandon() {
	p.mu.Lock()
	p.queue = nil
	p.mu.Unlock()
}
