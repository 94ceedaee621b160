// Package bake builds hull AMIs on AWS: a builder machine installs nodeup and the assets, powers off, and is imaged.
package bake
