package cluster

import "context"

// Instance is one machine of the cluster and whether it is up to date.
type Instance struct {
	ID            string `json:"id"`
	Group         string `json:"group"`
	Role          string `json:"role"`
	Address       string `json:"address"`
	State         string `json:"state"`
	ConfigVersion string `json:"configVersion"`
	NeedsUpdate   bool   `json:"needsUpdate"`
	Detached      bool   `json:"detached,omitempty"`
}

// Instances lists the cluster's machines, each joined with its group's
// current config version: a machine launched from another version needs
// replacing.
func (c *Cluster) Instances(ctx context.Context) ([]Instance, error) {
	p, err := c.cloud(ctx, false)
	if err != nil {
		return nil, err
	}
	groups, err := p.FindInstanceGroups(ctx, c.Name)
	if err != nil {
		return nil, err
	}
	current := map[string]string{}
	for _, g := range groups {
		current[g.Name] = g.ConfigVersion
	}
	insts, err := p.ListInstances(ctx, c.Name)
	if err != nil {
		return nil, err
	}
	out := []Instance{}
	for _, in := range insts {
		out = append(out, Instance{
			ID: in.ID, Group: in.Group, Role: in.Role, Address: in.Address, State: in.State,
			ConfigVersion: in.ConfigVersion, Detached: in.Detached,
			NeedsUpdate: in.ConfigVersion != current[in.Group],
		})
	}
	return out, nil
}
