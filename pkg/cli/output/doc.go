// Package output prints command results as tables, YAML or JSON, and progress lines with elapsed time.
package output
