// Package app is Herald's composition root: it loads the configuration,
// opens the store, builds the channels, the engine and the HTTP server,
// runs them, and shuts them down in order. Tests run the whole server
// in-process through it.
package app

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"github.com/herald-notify/herald/internal/channel"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herald-notify/herald/internal/ack"
	"github.com/herald-notify/herald/internal/config"
	"github.com/herald-notify/herald/internal/engine"
	"github.com/herald-notify/herald/internal/herald"
	"github.com/herald-notify/herald/internal/server"
	"github.com/herald-notify/herald/internal/store"
)

//go:embed demo/herald.yaml
var demoFS embed.FS

// DemoConfig returns the embedded demo configuration.
func DemoConfig() []byte {
	b, _ := demoFS.ReadFile("demo/herald.yaml")
	return b
}

// Options configures an App.
type Options struct {
	// ConfigPath is a YAML file or folder; empty runs the embedded demo.
	ConfigPath string
	// Listen overrides server.listen ("127.0.0.1:0" picks a free port).
	Listen string
	// DBPath overrides storage.path (a SQLite file).
	DBPath string
	// Storage overrides the storage section: a postgres:// URL or a
	// SQLite file path.
	Storage string
	// Schema overrides storage.schema (PostgreSQL).
	Schema string
	// NoMigrate skips applying PostgreSQL migrations at start.
	NoMigrate bool
	// ClusterBeat is how often the node records itself in the cluster
	// state and recomputes the cluster's configuration version (default
	// 5s; tests shorten it).
	ClusterBeat time.Duration
	Logger      *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Synchronous overrides the SQLite synchronous pragma (FULL default).
	Synchronous string
	// LookupEnv resolves ${env:NAME} (default os.LookupEnv).
	LookupEnv func(string) (string, bool)
}

// App is a running Herald.
type App struct {
	opts     Options
	logger   *slog.Logger
	store    store.Store
	engine   *engine.Engine
	sources  *sources
	cluster  *cluster
	server   *server.Server
	http     *http.Server
	listener net.Listener
	registry *prometheus.Registry

	mu  sync.Mutex
	cfg *config.Config
	// senders are the current configuration's senders; those holding
	// connections (brokers) are closed when replaced or at shutdown.
	senders map[string]channel.Sender
	// reloading serialises reloads, so the engine and cfg cannot end up
	// on different versions.
	reloading sync.Mutex
}

// LoadConfig loads the configuration the options name (or the demo).
func LoadConfig(path string, lookupEnv func(string) (string, bool)) (*config.Config, error) {
	opts := config.Options{ChannelTypes: channelTypes(), LookupEnv: lookupEnv}
	if path == "" {
		return config.LoadSources([]config.Source{{Path: "demo.yaml", Data: DemoConfig()}}, opts)
	}
	return config.Load(path, opts)
}

// New builds a Herald: configuration, store, channels, engine and API. It
// listens but does not serve until Run.
func New(ctx context.Context, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg, err := LoadConfig(opts.ConfigPath, opts.LookupEnv)
	if err != nil {
		return nil, err
	}
	a := &App{opts: opts, logger: opts.Logger, cfg: cfg, registry: prometheus.NewRegistry()}
	st, err := openStore(ctx, cfg.Storage, opts, a.logger)
	if err != nil {
		return nil, err
	}
	a.store = st
	if err := a.saveConfig(ctx, cfg); err != nil {
		st.Close()
		return nil, err
	}
	senders, err := buildSenders(cfg, a.logger)
	if err != nil {
		st.Close()
		return nil, err
	}
	a.senders = senders
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.registry.MustRegister(newQueueCollector(st, opts.Now))
	key, err := loadAckKey(ctx, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	signer := ack.NewSigner(key, ackTTL)
	a.engine = engine.New(engine.NewSnapshot(cfg, senders), engine.Options{
		Store:       st,
		Logger:      a.logger,
		Metrics:     engine.NewMetrics(a.registry),
		Now:         opts.Now,
		LoadVersion: a.loadVersion,
		AckURL:      a.ackURL(signer),
		// Every committed event, emitted ones included, feeds the
		// heartbeats; a.sources is set before the engine starts.
		OnAccepted: func(ev *herald.Event) { a.sources.observe(ev) },
	})
	a.sources = newSources(a.engine, st, a.logger, opts.Now)
	a.cluster = newCluster(a, a.registry)
	a.cluster.setVersion(cfg.Version)
	reload := a.Reload
	if opts.ConfigPath == "" {
		reload = nil
	}
	a.server = server.New(server.Options{
		Engine:   a.engine,
		Ledger:   st,
		Runs:     runsAPI{st, a.engine},
		Acks:     signer,
		Logger:   a.logger,
		Metrics:  promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}),
		Settings: a.settings,
		Reload:   reload,
		Cluster:  func() any { return a.cluster.View() },
		Channels: func() any { return a.engine.Circuits() },
		Now:      opts.Now,
	})
	listen := opts.Listen
	if listen == "" {
		listen = cfg.Server.Listen
	}
	a.listener, err = net.Listen("tcp", listen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen on %s: %w", listen, err)
	}
	a.http = &http.Server{
		Handler:           a.server,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	return a, nil
}

func (a *App) saveConfig(ctx context.Context, cfg *config.Config) error {
	srcs := make([]store.ConfigSource, len(cfg.Sources))
	for i, s := range cfg.Sources {
		srcs[i] = store.ConfigSource{Path: filepath.Base(s.Path), Data: s.Data}
	}
	if err := a.store.SaveConfig(ctx, cfg.Version, srcs); err != nil {
		return fmt.Errorf("store configuration version: %w", err)
	}
	return nil
}

func (a *App) loadVersion(ctx context.Context, version string) (*config.Config, error) {
	srcs, err := a.store.LoadConfig(ctx, version)
	if err != nil {
		return nil, err
	}
	cs := make([]config.Source, len(srcs))
	for i, s := range srcs {
		cs[i] = config.Source{Path: s.Path, Data: s.Data}
	}
	return config.LoadSources(cs, config.Options{ChannelTypes: channelTypes(), LookupEnv: a.opts.LookupEnv})
}

func (a *App) settings() server.Settings {
	a.mu.Lock()
	cfg := a.cfg
	a.mu.Unlock()
	return server.Settings{
		Token:       cfg.Server.Token.Value(),
		MaxBody:     cfg.Server.MaxBody,
		MaxBatch:    cfg.Server.MaxBatch,
		MaxAttempts: cfg.Delivery.MaxAttempts,
	}
}

// Config returns the configuration in use.
func (a *App) Config() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// Reload loads the configuration again; an invalid one is rejected and
// the one in use stays. Listening address and storage do not change.
func (a *App) Reload(ctx context.Context) (string, error) {
	a.reloading.Lock()
	defer a.reloading.Unlock()
	cfg, err := LoadConfig(a.opts.ConfigPath, a.opts.LookupEnv)
	if err != nil {
		a.logger.Error("configuration reload rejected", "err", err)
		return "", err
	}
	senders, err := buildSenders(cfg, a.logger)
	if err != nil {
		return "", err
	}
	if err := a.saveConfig(ctx, cfg); err != nil {
		return "", err
	}
	a.engine.SetConfig(engine.NewSnapshot(cfg, senders))
	a.mu.Lock()
	a.cfg = cfg
	old := a.senders
	a.senders = senders
	a.mu.Unlock()
	// Attempts already running on the old senders finish first.
	time.AfterFunc(time.Minute, func() { closeSenders(old) })
	a.sources.reload(cfg)
	a.cluster.setVersion(cfg.Version)
	a.logger.Info("configuration reloaded", "version", cfg.Version[:12])
	return cfg.Version, nil
}

// Addr is the address the API listens on.
func (a *App) Addr() string { return a.listener.Addr().String() }

// URL is the API's base URL.
func (a *App) URL() string { return "http://" + a.Addr() }

// Engine returns the workflow engine (tests use it to wait for work).
func (a *App) Engine() *engine.Engine { return a.engine }

// Store returns the store.
func (a *App) Store() store.Store { return a.store }

// Run serves until ctx ends, then shuts down: it stops accepting
// requests, drains in-flight work within the shutdown timeout, and closes
// the store.
func (a *App) Run(ctx context.Context) error {
	a.engine.Start()
	a.engine.Wake() // take up work left by a previous process at once
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	a.runSources(bg)
	go a.cluster.run(bg)
	errc := make(chan error, 1)
	go func() { errc <- a.http.Serve(a.listener) }()
	a.logger.Info("herald serving", "addr", a.Addr(), "config", a.Config().Version[:12])
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	timeout := a.Config().Server.ShutdownTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	a.logger.Info("shutting down", "timeout", timeout)
	herr := a.http.Shutdown(sctx)
	stopBG()
	a.sources.stop()
	eerr := a.engine.Stop(sctx)
	a.mu.Lock()
	closeSenders(a.senders)
	a.mu.Unlock()
	cerr := a.store.Close()
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, herr, eerr, cerr)
}

// runsAPI is the store as the runs API uses it, except that a
// cancellation also tells the engine, so messages of the run already
// queued in memory are dropped.
type runsAPI struct {
	store.Store
	engine *engine.Engine
}

// CancelRun cancels a run in the store and in the engine.
func (r runsAPI) CancelRun(ctx context.Context, id, reason string, now time.Time) (*herald.Run, error) {
	run, err := r.Store.CancelRun(ctx, id, reason, now)
	if err == nil {
		r.engine.MarkCancelled(id)
	}
	return run, err
}
