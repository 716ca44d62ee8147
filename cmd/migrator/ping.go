package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func pingCommand() *cli.Command {
	return &cli.Command{
		Name:      "ping",
		Usage:     "check that the cluster answers and show its brokers",
		UsageText: "migrator --bootstrap-servers 127.0.0.1:9092 ping\nmigrator --command-config client.properties --timeout 10s ping",
		Action: func(c *cli.Context) error {
			cl, err := connect(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			info, err := cl.DescribeCluster(c.Context)
			if err != nil {
				return err
			}
			return printer(c).Print(info, []string{"cluster id", "broker", "host", "port", "controller"}, func() [][]string {
				var rows [][]string
				for _, b := range info.Brokers {
					ctrl := ""
					if b.ID == info.ControllerID {
						ctrl = "yes"
					}
					rows = append(rows, []string{info.ClusterID, fmt.Sprint(b.ID), b.Host, fmt.Sprint(b.Port), ctrl})
				}
				return rows
			})
		},
	}
}
