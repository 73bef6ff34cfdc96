//go:build e2e

package main
