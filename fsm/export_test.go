package fsm

// RareCellTrees counts the rare-cell trees that the account's all-chats
// set keeps, by half (active, closed), so that tests can check they reach
// the lists that walk them.
func RareCellTrees(f *FSM, account string) [2]int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var kept [2]int
	if a, ok := f.st.accounts.Get(account); ok {
		for cell, t := range a.all.cells {
			if t != nil {
				kept[half(cell)]++
			}
		}
	}
	return kept
}

// SetBatchWarming turns the reading ahead of a batch's paths on or off,
// so that a benchmark can compare Apply with and without it.
func SetBatchWarming(f *FSM, on bool) { f.warm.off = !on }
