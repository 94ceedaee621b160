// Package codec reads and writes hull API documents as strict, multi-document YAML.
package codec
