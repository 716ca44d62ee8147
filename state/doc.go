// Package state will own the bbolt file that records each rename's phase
// and the audit log. It is not written yet.
package state
