package billing

// StepPending reports whether a watched Meter has a step scheduled, and
// cancels it (for tests: a Meter's timer is otherwise its own).
func (m *Meter) StepPending() bool {
	m.watch.mu.Lock()
	defer m.watch.mu.Unlock()
	return m.watch.timer != nil && m.watch.timer.Stop()
}
