// Package bridge will hold the mirror: the long-running, exactly-once copy
// of each old topic to its new name for the transition window. It is not
// written yet; `migrator mirror` does not exist until it is.
package bridge
