package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseSizes is -sizes, or -size alone.
func parseSizes() ([]int, error) {
	if *sizesF == "" {
		return []int{*size}, nil
	}
	var out []int
	for _, f := range strings.Split(*sizesF, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 8 {
			return nil, fmt.Errorf("-sizes: %q is not a record size (bytes, at least 8)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// Backlog bounds when the count comes from -bytes: small records need many
// to copy for a comparable time, large ones few, but not so few that the
// contenders' start-up is the run.
const minRecords, maxRecords = 200_000, 5_000_000

// recordCounts is the backlog of each size: -records (N, or SIZE=N,...),
// else -bytes / size within minRecords..maxRecords.
func recordCounts(sizes []int) ([]int, error) {
	given := map[int]int{}
	all := 0
	for _, f := range strings.Split(*recordsF, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if sz, n, ok := strings.Cut(f, "="); ok {
			s, err1 := strconv.Atoi(sz)
			c, err2 := strconv.Atoi(n)
			if err1 != nil || err2 != nil || c <= 0 {
				return nil, fmt.Errorf("-records: %q is not SIZE=N", f)
			}
			given[s] = c
			continue
		}
		c, err := strconv.Atoi(f)
		if err != nil || c <= 0 {
			return nil, fmt.Errorf("-records: %q is not a count", f)
		}
		all = c
	}
	out := make([]int, len(sizes))
	for i, sz := range sizes {
		switch {
		case given[sz] > 0:
			out[i] = given[sz]
		case all > 0:
			out[i] = all
		default:
			out[i] = int(min(max(*bytesF/int64(sz), minRecords), maxRecords))
		}
	}
	return out, nil
}

// steadyRate is -rate, else 10,000 records/s but at most 10 MB/s, so that
// the latency phase measures latency, not the largest records' throughput.
func steadyRate(size int) int {
	if *rateF > 0 {
		return *rateF
	}
	return max(min(10_000, 10_240_000/size), 1)
}
