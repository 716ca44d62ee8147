// Package bridge is the mirror's data plane: the long-running, exactly-once
// (or at-least-once) copy of each source topic to its target, partition p
// to partition p in order, with provenance headers (X-Migrator-Origin and,
// when enriched, the standard X-* headers), dead letters for records the
// target refuses for good, key re-partitioning when a target has more
// partitions, and Prometheus metrics.
//
// The bridge only copies. What to copy comes from a RouteSource it asks
// periodically (lifecycle.MapRoutes derives the routes from the rename map,
// the cluster and the state; StaticRoutes serves a fixed list); it does
// not read the rename map, does not open the state and never changes a
// rename's phase. Its progress is its consumer group's committed offsets
// (DefaultGroup unless named) and its metrics, which lifecycle reads.
//
// docs/bridge.md describes the delivery semantics and which errors end Run.
package bridge
