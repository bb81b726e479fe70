package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/api2mcp/api2mcp/configs"
	"github.com/api2mcp/api2mcp/proxy"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

const usage = `api2mcp serves HTTP APIs as MCP tools, declared in mcp.yaml.

Usage:
  api2mcp serve    -c FILE [--listen ADDR]   serve MCP over HTTP (/mcp, /sse)
  api2mcp stdio    -c FILE                   serve MCP on stdin/stdout
  api2mcp validate -c FILE                   check the config, report every problem
  api2mcp tools    -c FILE                   print the tools as tools/list gives them
  api2mcp call     -c FILE TOOL [--args JSON]  call one tool against the real upstream
  api2mcp schema                             print the JSON Schema of mcp.yaml
  api2mcp openapi  SPEC [--skeleton]         print the tools an OpenAPI spec (file or URL)
                                             yields, or an mcp.yaml to start from
  api2mcp version                            print the version

Common flags:
  -c, --config FILE     config file (default mcp.yaml)
  --log-level LEVEL     debug, info, warn or error (default info for serve
                        and stdio, warn for the others)
  --log-format FORMAT   text, json, or auto (default: text on a terminal, JSON
                        otherwise, as under a process supervisor)

Exit status: 0 on success, 1 on a config error, a failed call or an isError
result, 2 on a usage error.
`

// run is the whole CLI, testable: it returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "api2mcp", buildVersion())
		return 0
	case "schema":
		stdout.Write(configs.JSONSchema)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	case "serve", "stdio", "validate", "tools", "call", "openapi":
	default:
		fmt.Fprintf(stderr, "api2mcp: unknown command %q\n\n%s", cmd, usage)
		return 2
	}

	fs := flag.NewFlagSet("api2mcp "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	var configPath, listen, callArgs, logLevel, logFormat string
	fs.StringVar(&configPath, "c", "mcp.yaml", "config file")
	fs.StringVar(&configPath, "config", "mcp.yaml", "config file")
	// One-shot commands print results on stdout; their log is quiet unless asked.
	defaultLevel := "warn"
	if cmd == "serve" || cmd == "stdio" {
		defaultLevel = "info"
	}
	fs.StringVar(&logLevel, "log-level", defaultLevel, "log level")
	fs.StringVar(&logFormat, "log-format", "auto", "log format")
	var watch bool
	if cmd == "serve" {
		fs.StringVar(&listen, "listen", "", "listen address (overrides server.listen)")
	}
	if cmd == "serve" || cmd == "stdio" {
		fs.BoolVar(&watch, "watch", true, "reload the config when the file changes or on SIGHUP")
	}
	if cmd == "call" {
		fs.StringVar(&callArgs, "args", "{}", "tool arguments as a JSON object")
	}
	var skeleton bool
	if cmd == "openapi" {
		fs.BoolVar(&skeleton, "skeleton", false, "print an mcp.yaml skeleton instead of the tools")
	}
	positional, err := parseInterspersed(fs, rest)
	if err != nil {
		return 2
	}
	wantArgs := 0
	if cmd == "call" || cmd == "openapi" {
		wantArgs = 1
	}
	if len(positional) != wantArgs {
		switch {
		case cmd == "call":
			fmt.Fprintln(stderr, "api2mcp call: name exactly one tool")
		case cmd == "openapi":
			fmt.Fprintln(stderr, "api2mcp openapi: name exactly one spec (a file or an http(s) URL)")
		default:
			fmt.Fprintf(stderr, "api2mcp %s: unexpected argument %q\n", cmd, positional[0])
		}
		return 2
	}
	if cmd == "call" && !json.Valid([]byte(callArgs)) {
		fmt.Fprintln(stderr, "api2mcp call: --args is not valid JSON")
		return 2
	}
	var buffered *logWriter
	if cmd == "serve" || cmd == "stdio" {
		// Their log is written in batches (see logWriter); what run
		// prints to stderr itself goes the same way, to keep the order.
		buffered = newLogWriter(stderr, logFlushAfter)
		defer buffered.Close()
	}
	logger, err := newLogger(stderr, logLevel, logFormat, buffered)
	if buffered != nil {
		stderr = buffered
	}
	if err != nil {
		fmt.Fprintf(stderr, "api2mcp %s: %v\n", cmd, err)
		return 2
	}

	var loadOpts *configs.Options
	if cmd == "openapi" {
		// The spec is loaded through a generated config, so that the tools
		// printed are exactly those an openapi entry would serve.
		res, err := configs.ImportOpenAPI(positional[0], nil)
		if err != nil {
			fmt.Fprintf(stderr, "api2mcp openapi: %v\n", err)
			return 1
		}
		location := positional[0]
		if abs, err := filepath.Abs(location); err == nil && !strings.Contains(location, "://") {
			location = abs
		}
		text := configs.Skeleton(location, res)
		if skeleton {
			fmt.Fprint(stdout, text)
			return 0
		}
		fmt.Fprintf(stderr, "%s: %s, %d skipped\n", positional[0], plural(len(res.Tools), "tool"), len(res.Skipped))
		configPath = "(generated from " + positional[0] + ")"
		loadOpts = &configs.Options{ReadFile: func(p string) ([]byte, error) {
			if p == configPath {
				return []byte(text), nil
			}
			return os.ReadFile(p)
		}}
	}
	loaded := fileStamp(configPath) // before reading: a later edit is seen
	cfg, err := configs.Load(configPath, loadOpts)
	if err != nil {
		reportConfigError(stderr, configPath, err)
		return 1
	}
	if listen != "" {
		cfg.Server.Listen = listen
	}
	for _, w := range cfg.Warnings {
		logger.Warn("config_warning", "file", configPath, "warning", w)
	}
	if cmd == "validate" {
		fmt.Fprintf(stdout, "%s: ok: %s, %s\n", configPath, plural(len(cfg.Tools), "tool"), plural(len(cfg.Upstreams), "upstream"))
		return 0
	}
	srv, err := proxy.New(cfg, &proxy.Options{Logger: logger, Version: buildVersion()})
	if err != nil {
		fmt.Fprintf(stderr, "api2mcp %s: %v\n", cmd, err)
		return 1
	}
	defer srv.Close()

	switch cmd {
	case "tools", "openapi":
		out, err := srv.ListTools(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "api2mcp tools: %v\n", err)
			return 1
		}
		return writeIndented(stdout, stderr, out)
	case "call":
		out, isError, err := srv.CallTool(ctx, positional[0], json.RawMessage(callArgs))
		if err != nil {
			fmt.Fprintf(stderr, "api2mcp call: %v\n", err)
			return 1
		}
		if code := writeIndented(stdout, stderr, out); code != 0 {
			return code
		}
		if isError {
			return 1
		}
		return 0
	case "stdio":
		if watch {
			go reloadLoop(ctx, configPath, loaded, srv, logger, watchInterval)
		}
		if err := srv.ServeStdio(ctx, io.NopCloser(stdin), nopWriteCloser{stdout}); err != nil {
			fmt.Fprintf(stderr, "api2mcp stdio: %v\n", err)
			return 1
		}
		return 0
	default: // serve
		tuneGC(logger, os.Getenv, os.ReadFile)
		ln, err := net.Listen("tcp", cfg.Server.Listen)
		if err != nil {
			fmt.Fprintf(stderr, "api2mcp serve: %v\n", err)
			return 1
		}
		if watch {
			go reloadLoop(ctx, configPath, loaded, srv, logger, watchInterval)
		}
		if err := srv.Serve(ctx, ln); err != nil {
			fmt.Fprintf(stderr, "api2mcp serve: %v\n", err)
			return 1
		}
		return 0
	}
}

// watchInterval is how often the config file is checked for changes.
const watchInterval = time.Second

// reloadLoop reloads the config when its file changes (size or
// modification time, checked every interval) or on SIGHUP. A config that
// does not load is rejected with its report in the log and the running one
// keeps serving.
// loaded is the file's stamp when the running config was read.
func reloadLoop(ctx context.Context, path, loaded string, srv *proxy.Server, logger *slog.Logger, interval time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	stamp := func() string { return fileStamp(path) }
	last, pending := loaded, ""
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		reason := ""
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reason = "SIGHUP"
		case <-tick.C:
			// A change counts once the file has stayed the same for one
			// interval: an editor or a ConfigMap update may still be
			// writing it.
			now := stamp()
			switch {
			case now == last || now == "":
				pending = ""
			case now != pending:
				pending = now
			default:
				last, reason, pending = now, "file changed", ""
			}
		}
		if reason == "" {
			continue
		}
		last = stamp()
		cfg, err := configs.Load(path, nil)
		if err != nil {
			var report strings.Builder
			reportConfigError(&report, path, err)
			logger.Error("config_reload_rejected", "reason", reason, "file", path, "report", report.String())
			srv.NoteReloadRejected()
			continue
		}
		warnings, err := srv.Reload(cfg)
		if err != nil {
			logger.Error("config_reload_failed", "reason", reason, "file", path, "error", err.Error())
			continue
		}
		for _, w := range warnings {
			logger.Warn("config_reload_warning", "warning", w)
		}
		logger.Info("config_reloaded", "reason", reason, "file", path, "tools", len(cfg.Tools))
	}
}

// fileStamp identifies a version of a file by size and modification time;
// "" when it cannot be read.
func fileStamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
}

// parseInterspersed parses flags that may follow positional arguments
// (api2mcp call TOOL --args …).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// reportConfigError prints every problem of a config that did not load, one
// per line (expression snippets indented below their line).
func reportConfigError(w io.Writer, path string, err error) {
	var problems []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		problems = j.Unwrap()
	} else {
		problems = []error{err}
	}
	if len(problems) == 1 {
		fmt.Fprintf(w, "%s: 1 problem:\n", path)
	} else {
		fmt.Fprintf(w, "%s: %d problems:\n", path, len(problems))
	}
	for _, p := range problems {
		fmt.Fprintf(w, "- %s\n", strings.ReplaceAll(p.Error(), "\n", "\n    "))
	}
}

func writeIndented(stdout, stderr io.Writer, raw json.RawMessage) int {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		fmt.Fprintf(stderr, "api2mcp: %v\n", err)
		return 1
	}
	buf.WriteByte('\n')
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return 1
	}
	return 0
}

// logFlushAfter is how long a log line of serve or stdio may wait in the
// buffer before it is written.
const logFlushAfter = 100 * time.Millisecond

// newLogger makes the logger writing to w; with buffered set, through it
// (w decides the format "auto" stands for).
func newLogger(w io.Writer, level, format string, buffered *logWriter) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	out := w
	if buffered != nil {
		out = buffered
	}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(out, opts)
	case "json":
		h = slog.NewJSONHandler(out, opts)
	default:
		return nil, errors.New("--log-format: want text, json or auto")
	}
	if buffered != nil {
		h = flushHandler{Handler: h, w: buffered}
	}
	return slog.New(h), nil
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
