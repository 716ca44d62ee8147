package admin

import (
	"context"
	"fmt"
)

// Broker is one broker of the cluster.
type Broker struct {
	ID   int    `json:"id"`
	Host string `json:"host"`
	Port int    `json:"port"`
}

// ClusterInfo is what the cluster says about itself.
type ClusterInfo struct {
	ClusterID    string   `json:"cluster_id"`
	ControllerID int      `json:"controller_id"`
	Brokers      []Broker `json:"brokers"`
}

// DescribeCluster returns the cluster id, controller and brokers.
func (c *Client) DescribeCluster(ctx context.Context) (*ClusterInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OperationTimeout())
	defer cancel()
	res, err := c.admin.DescribeCluster(ctx)
	if err != nil {
		return nil, c.unreachable(ctx, fmt.Errorf("describe cluster: %w", err))
	}
	info := &ClusterInfo{ControllerID: -1}
	if res.ClusterID != nil {
		info.ClusterID = *res.ClusterID
	}
	if res.Controller != nil {
		info.ControllerID = res.Controller.ID
	}
	for _, n := range res.Nodes {
		info.Brokers = append(info.Brokers, Broker{ID: n.ID, Host: n.Host, Port: n.Port})
	}
	return info, nil
}
