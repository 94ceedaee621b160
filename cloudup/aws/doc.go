// Package aws is hull's AWS provider: cloud.Provider over aws-sdk-go-v2 (VPC, subnets, security groups, IAM, launch templates, autoscaling groups, an NLB and Route 53).
package aws
