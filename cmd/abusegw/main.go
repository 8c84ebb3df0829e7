// Command abusegw is the abuse-desk gateway: it ingests abuse reports,
// normalizes them, aggregates them into cases per customer and problem, and
// keeps tickets in the desk's helpdesk in step. This package only parses
// flags and wires the pieces together; the logic lives under gateway/,
// normalizer/ and connectors/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"
	"github.com/spf13/cobra"

	"github.com/abusegw/abusegw/gateway/app"
	"github.com/abusegw/abusegw/gateway/config"
	"github.com/abusegw/abusegw/gateway/store"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ(),
	}))
}

// env is the process's surroundings, injected so tests can run commands
// in-process.
type env struct {
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	environ  []string
	onListen func(net.Addr) // serve: called once listening
}

func (e env) getenv(name string) string {
	for i := len(e.environ) - 1; i >= 0; i-- {
		if k, v, ok := cutEnv(e.environ[i]); ok && k == name {
			return v
		}
	}
	return ""
}

func cutEnv(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return "", "", false
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// run executes one command line and returns the exit code: 0 success, 1 a
// failure, 2 a usage or configuration error.
func run(ctx context.Context, args []string, e env) int {
	gin.SetMode(gin.ReleaseMode) // gin's mode is process-wide; set it once here
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	root := newRootCmd(&e)
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(e.stderr, "abusegw:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(e.stderr, "abusegw:", err)
	return 1
}

// globals are the flags every subcommand takes.
type globals struct {
	configPath string
	logLevel   string
	logFormat  string
}

func newRootCmd(e *env) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "abusegw",
		Short: "abuse-desk gateway: reports in, one case per customer and problem, tickets in your helpdesk",
		Long: `abusegw ingests abuse reports (Shadowserver, X-ARF, ARF, CERT mails, IntelMQ),
finds the customer each is about, aggregates them into cases and keeps tickets
in the desk's helpdesk (Request Tracker, Znuny, Zammad, Jira, Freshdesk, GitLab).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.configPath, "config", "", "configuration file (YAML); also $ABUSEGW_CONFIG")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "log level: debug, info, warn, error (overrides log.level)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "", "log format: json or text (overrides log.format)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: 2, err: fmt.Errorf("%w\nsee '%s --help'", err, c.CommandPath())}
	})

	root.AddCommand(
		newServeCmd(e, g),
		newMigrateCmd(e, g),
		newCheckCmd(e, g),
		newVersionCmd(e),
		newParseCmd(e, g),
		newSchemaCmd(e, g),
		newIngestCmd(e, g),
		newCasesCmd(e, g),
		newDispatchCmd(e, g),
		newSyncCmd(e, g),
		newOutboxCmd(e, g),
		newReportsCmd(e, g),
		newReportCmd(e, g),
		newReprocessCmd(e, g),
	)
	return root
}

// loadConfig reads the configuration named by --config or $ABUSEGW_CONFIG,
// with the environment's overrides; no file means the defaults.
func (g *globals) loadConfig(e *env) (*config.Config, error) {
	path := g.configPath
	if path == "" {
		path = e.getenv("ABUSEGW_CONFIG")
	}
	cfg, err := config.Load(path, e.environ)
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("configuration: %w", err)}
	}
	if g.logLevel != "" {
		if _, err := config.ParseLevel(g.logLevel); err != nil {
			return nil, &exitError{code: 2, err: fmt.Errorf("--log-level: %w", err)}
		}
		cfg.Log.Level = g.logLevel
	}
	if g.logFormat != "" {
		cfg.Log.Format = g.logFormat
	}
	return cfg, nil
}

// logger builds the structured logger the configuration asks for; logs go
// to stderr so that stdout stays clean for command output.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	level, err := config.ParseLevel(cfg.Log.Level)
	if err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// openReadyDB loads the configuration and opens its database, which must be
// migrated already: commands that only read never change the schema.
func openReadyDB(ctx context.Context, e *env, g *globals) (*config.Config, *store.DB, error) {
	cfg, err := g.loadConfig(e)
	if err != nil {
		return nil, nil, err
	}
	db, err := app.OpenDB(ctx, cfg, newLogger(cfg, e.stderr))
	if err != nil {
		return nil, nil, err
	}
	if err := db.Ready(ctx); err != nil {
		db.Close()
		return nil, nil, err
	}
	return cfg, db, nil
}
