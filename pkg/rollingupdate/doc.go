// Package rollingupdate replaces out-of-date machines one instance group at a time: cordon, drain, terminate, validate.
package rollingupdate
