package state

// keyQueue is an intrusive doubly linked list of keys, least recently
// touched first: moving a key to the back and taking the front are O(1),
// where finding an eviction victim used to scan every key.
type keyQueue struct {
	root keyState // sentinel: root.next is the front, root.prev the back
	len  int
}

func newKeyQueue() *keyQueue {
	q := &keyQueue{}
	q.root.prev, q.root.next = &q.root, &q.root
	return q
}

// front is the least recently touched key, or nil.
func (q *keyQueue) front() *keyState {
	if q.len == 0 {
		return nil
	}
	return q.root.next
}

func (q *keyQueue) pushBack(ks *keyState) {
	last := q.root.prev
	ks.prev, ks.next = last, &q.root
	last.next = ks
	q.root.prev = ks
	ks.queue = q
	q.len++
}

// unlink removes the key from its queue, if it is in one.
func (ks *keyState) unlink() {
	if ks.queue == nil {
		return
	}
	ks.prev.next = ks.next
	ks.next.prev = ks.prev
	ks.prev, ks.next = nil, nil
	ks.queue.len--
	ks.queue = nil
}
