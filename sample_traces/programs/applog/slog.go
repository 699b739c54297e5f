//go:build go1.21

package main

import (
	"log/slog"
	"os"
)

func init() {
	styles["slogtext"] = func() appLogger {
		l := slog.New(slog.NewTextHandler(os.Stderr, nil))
		return func(msg string, kv ...any) { l.Info(msg, kv...) }
	}
	styles["slogjson"] = func() appLogger {
		l := slog.New(slog.NewJSONHandler(os.Stderr, nil))
		return func(msg string, kv ...any) { l.Info(msg, kv...) }
	}
}
