// Package awstest is a stateful AWS endpoint for loopback tests: EC2, Auto Scaling, ELBv2, IAM, STS and Route 53 over their real wire protocols, with request recording, pagination, dependency errors, throttling and simulated instances.
package awstest
