// Command awsemu serves the AWS emulator (cloudup/aws/awstest) on a loopback address for hull pointed at it with AWS_ENDPOINT_URL.
package main
