//go:build !go1.21

package main

// Before go1.21 there is no log/slog: only the stdlog and bracket styles
// (main.go) exist, and -style slogtext / slogjson exits with status 2.
