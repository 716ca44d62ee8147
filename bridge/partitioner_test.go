package bridge

import (
	"hash/crc32"
	"math"
	"testing"
)

// Vectors of Kafka's UtilsTest.testMurmur2 (Java ints).
var murmur2Vectors = []struct {
	key  string
	want int32
}{
	{"21", -973932308},
	{"foobar", -790332482},
	{"a-little-bit-long-string", -985981536},
	{"a-little-bit-longer-string", -1486304829},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
	{"abc", 479470107},
}

func TestMurmur2KafkaVectors(t *testing.T) {
	for _, tt := range murmur2Vectors {
		if got := int32(murmur2([]byte(tt.key))); got != tt.want {
			t.Errorf("murmur2(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

func TestMurmur2Partitioner(t *testing.T) {
	for _, tt := range murmur2Vectors {
		for _, n := range []int32{1, 2, 3, 6, 12, 100, math.MaxInt32} {
			want := (tt.want & 0x7fffffff) % n // Utils.toPositive(murmur2) % n
			if got := Murmur2Partitioner([]byte(tt.key), 0, n); got != want {
				t.Errorf("Murmur2Partitioner(%q, n=%d) = %d, want %d", tt.key, n, got, want)
			}
		}
	}
	// Spot values worked out by hand from the vectors.
	spot := []struct {
		key  string
		n    int32
		want int32
	}{
		{"21", 7, 3},     // -973932308 & 0x7fffffff = 1173551340
		{"foobar", 5, 1}, // -790332482 & 0x7fffffff = 1357151166
		{"abc", 10, 7},   // 479470107
		{"", 6, 3},       // an empty key is a key: murmur2("") = 275646681
		{"", 7, 2},
	}
	for _, tt := range spot {
		if got := Murmur2Partitioner([]byte(tt.key), 3, tt.n); got != tt.want {
			t.Errorf("Murmur2Partitioner(%q, n=%d) = %d, want %d", tt.key, tt.n, got, tt.want)
		}
	}
}

func TestConsistentPartitioner(t *testing.T) {
	for _, key := range []string{"", "21", "foobar", "essay-42", "\x00\xff"} {
		for _, n := range []int32{1, 3, 12, 100, math.MaxInt32} {
			want := int32(crc32.ChecksumIEEE([]byte(key)) % uint32(n))
			if got := ConsistentPartitioner([]byte(key), 0, n); got != want {
				t.Errorf("ConsistentPartitioner(%q, n=%d) = %d, want %d", key, n, got, want)
			}
		}
	}
	// crc32("123456789") is the CRC-32/IEEE check value 0xCBF43926.
	if got := ConsistentPartitioner([]byte("123456789"), 0, 1000); got != 0xCBF43926%1000 {
		t.Errorf("ConsistentPartitioner(check) = %d, want %d", got, 0xCBF43926%1000)
	}
}

func TestPartitionersNullKey(t *testing.T) {
	tests := []struct {
		source, n, want int32
	}{
		{0, 6, 0},
		{2, 6, 2}, // a null key keeps its source partition
		{5, 6, 5},
		{7, 6, 1},  // a source partition the target lacks: modulo
		{-1, 6, 5}, // never out of range
		{4, 0, 4},  // no target partitions: no answer, source returned
		{4, -3, 4},
	}
	for name, p := range map[string]Partitioner{"murmur2": Murmur2Partitioner, "consistent": ConsistentPartitioner} {
		for _, tt := range tests {
			if got := p(nil, tt.source, tt.n); got != tt.want {
				t.Errorf("%s(nil, %d, %d) = %d, want %d", name, tt.source, tt.n, got, tt.want)
			}
		}
		if got := p([]byte("k"), 4, 0); got != 4 {
			t.Errorf("%s(k, 4, 0) = %d, want 4", name, got)
		}
	}
}

func TestPartitionerByName(t *testing.T) {
	key := []byte("foobar")
	for name, want := range map[string]int32{
		"murmur2_random":    Murmur2Partitioner(key, 0, 12),
		"consistent_random": ConsistentPartitioner(key, 0, 12),
	} {
		p, err := PartitionerByName(name)
		if err != nil {
			t.Fatalf("PartitionerByName(%q): %v", name, err)
		}
		if got := p(key, 0, 12); got != want {
			t.Errorf("PartitionerByName(%q)(foobar) = %d, want %d", name, got, want)
		}
	}
	for _, name := range []string{"", "murmur2", "consistent", "random", "Murmur2_Random"} {
		p, err := PartitionerByName(name)
		want := `unknown partitioner "` + name + `": valid names are "murmur2_random" and "consistent_random"`
		if p != nil || err == nil || err.Error() != want {
			t.Errorf("PartitionerByName(%q) error %v, want %s", name, err, want)
		}
	}
}

func BenchmarkMurmur2Partitioner(b *testing.B) {
	key := []byte("0f8e6c1a-7d3b-4c55-9f0e-2b1a3c4d5e6f")
	b.ReportAllocs()
	for b.Loop() {
		Murmur2Partitioner(key, 0, 12)
	}
}
