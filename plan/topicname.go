package plan

import (
	"fmt"
	"strings"
)

// MaxTopicNameLength is the longest topic name Kafka accepts.
const MaxTopicNameLength = 249

// ValidateTopicName reports why name is not a topic name Kafka would accept:
// 1 to 249 characters of [a-zA-Z0-9._-], and neither "." nor "..".
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("topic name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("topic name %q is not allowed by Kafka", name)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("topic name is %d characters long, Kafka allows at most %d", len(name), MaxTopicNameLength)
	}
	for i, r := range name {
		if !isTopicRune(r) {
			return fmt.Errorf("topic name %q has %q at position %d; Kafka allows only [a-zA-Z0-9._-]", name, r, i+1)
		}
	}
	return nil
}

func isTopicRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

// CollisionKey returns the name Kafka compares topics by when it decides
// whether two names may coexist: Kafka treats '.' and '_' as the same
// character (both become '_' in metric names), so it refuses to create a
// topic whose CollisionKey equals that of an existing topic.
func CollisionKey(name string) string {
	return strings.ReplaceAll(name, ".", "_")
}

// Collide reports whether Kafka refuses to let topics a and b exist at the
// same time because they differ only in '.' against '_'. Equal names do not
// collide: they are the same topic.
func Collide(a, b string) bool {
	return a != b && CollisionKey(a) == CollisionKey(b)
}
