package bridge

import (
	"fmt"
	"hash/crc32"
)

// Partitioner picks the target partition of a record when the target has
// more partitions than the source (re-partition by key), from the record's
// key, its source partition and the target's partition count.
//
// Records with a null (nil) key keep their source partition: they have no
// key order to keep. Should the source partition not exist in the target, it
// is taken modulo targetPartitions. A targetPartitions <= 0 has no answer:
// the source partition is returned and the caller must check the count.
type Partitioner func(key []byte, sourcePartition, targetPartitions int32) int32

// Murmur2Partitioner is the Java client's default: toPositive(murmur2(key))
// % n, with Kafka's murmur2 (seed 0x9747b28c) exactly as
// org.apache.kafka.common.utils.Utils.murmur2 and toPositive x & 0x7fffffff.
// librdkafka's "murmur2_random" is the same for keyed records.
func Murmur2Partitioner(key []byte, sourcePartition, targetPartitions int32) int32 {
	if key == nil || targetPartitions <= 0 {
		return keepPartition(sourcePartition, targetPartitions)
	}
	return int32(murmur2(key)&0x7fffffff) % targetPartitions
}

// ConsistentPartitioner is librdkafka's "consistent": crc32 (IEEE) of the
// key % n. An empty, non-nil key hashes like any other (crc32 0).
func ConsistentPartitioner(key []byte, sourcePartition, targetPartitions int32) int32 {
	if key == nil || targetPartitions <= 0 {
		return keepPartition(sourcePartition, targetPartitions)
	}
	return int32(crc32.ChecksumIEEE(key) % uint32(targetPartitions))
}

// PartitionerByName returns the partitioner of a producer partitioner name:
// "murmur2_random" (Java clients; murmur2 for keyed records) or
// "consistent_random" (librdkafka's default).
func PartitionerByName(name string) (Partitioner, error) {
	switch name {
	case "murmur2_random":
		return Murmur2Partitioner, nil
	case "consistent_random":
		return ConsistentPartitioner, nil
	}
	return nil, fmt.Errorf("unknown partitioner %q: valid names are \"murmur2_random\" and \"consistent_random\"", name)
}

// keepPartition is the partition of a record without a key: its source
// partition, modulo n when the target has fewer.
func keepPartition(source, n int32) int32 {
	if n <= 0 || 0 <= source && source < n {
		return source
	}
	p := source % n
	if p < 0 {
		p += n
	}
	return p
}

// murmur2 is Kafka's murmur2 hash (Utils.murmur2), as unsigned bits.
func murmur2(data []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	length := len(data)
	h := uint32(seed) ^ uint32(length)
	n := length &^ 3
	for i := 0; i < n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch length & 3 {
	case 3:
		h ^= uint32(data[n+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[n+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[n])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
