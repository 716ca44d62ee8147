package lifecycle

import "sync"

// Progress is told how far a long wait has come (a drain, a copy, a
// verify), for the caller to show; lifecycle knows nothing of terminals.
// It may be called from several goroutines at once.
type Progress func(ProgressUpdate)

// ProgressUpdate is how far one long wait has come.
type ProgressUpdate struct {
	// Task names the wait, e.g. "drain huleedu.x.v1"; it is the same for
	// every update of one wait.
	Task string
	// Unit is what Done and Total count: "records", "bytes" or "seconds"
	// (a wait of a known length).
	Unit string
	// Done is how many units are done so far; Total how many there are
	// to do, 0 while unknown. Total may grow (a verify learns each
	// partition's size as it opens it).
	Done, Total int64
	// Finished marks the task's last update.
	Finished bool
}

// reporter tells env's Progress, when set, how far one task has come.
// It is safe for concurrent use; a nil reporter tells nobody.
type reporter struct {
	env         *Env
	task, unit  string
	mu          sync.Mutex
	done, total int64
}

func (e *Env) progress(task, unit string) *reporter {
	return &reporter{env: e, task: task, unit: unit}
}

// set reports done of total.
func (r *reporter) set(done, total int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done, r.total = done, total
	r.send(false)
}

// add reports n more done and grow more to do.
func (r *reporter) add(n, grow int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done += n
	r.total += grow
	r.send(false)
}

// finish reports the task's end.
func (r *reporter) finish() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.send(true)
}

func (r *reporter) send(finished bool) {
	if r.env == nil || r.env.Progress == nil {
		return
	}
	r.env.Progress(ProgressUpdate{Task: r.task, Unit: r.unit, Done: r.done, Total: r.total, Finished: finished})
}
