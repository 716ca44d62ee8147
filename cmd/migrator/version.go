package main

import (
	"runtime"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "print the migrator and librdkafka versions",
		UsageText: "migrator version\nmigrator -o json version",
		Action: func(c *cli.Context) error {
			_, librdkafka := kafka.LibraryVersion()
			info := map[string]string{
				"version": version, "commit": commit, "date": date,
				"go": runtime.Version(), "librdkafka": librdkafka,
			}
			return printer(c).Print(info, []string{"version", "commit", "date", "go", "librdkafka"}, func() [][]string {
				return [][]string{{version, commit, date, runtime.Version(), librdkafka}}
			})
		},
	}
}
