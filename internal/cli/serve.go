package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/minivoice/minivoice/internal/config"
	"github.com/minivoice/minivoice/internal/platform"
	"github.com/minivoice/minivoice/internal/store"
)

const serveUsage = `Usage: minivoice serve [flags]

Runs the platform: the REST API and the operator console on --http, the
SIP/RTP engine on --sip, the webhook and insights workers. On first start it
creates DATA/admin.key, the operator key (printed once). SIGTERM or SIGINT
shuts down gracefully, SIGHUP reloads the TLS certificates.

Flags:
`

// serve runs the platform until SIGTERM or SIGINT, then shuts down gracefully:
// it stops accepting, lets requests in flight finish within --drain-timeout.
func serve(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("minivoice serve", serveUsage, args, env)
	cfg, err := config.ParseServeFlags(fs, args, env.Getenv)
	if err != nil {
		return usageExit(err, "minivoice serve", env)
	}
	// MINIVOICE_CPUPROFILE=FILE records a CPU profile from start to shutdown,
	// for the load benchmarks (bench/sip-load.sh); it is not a flag because
	// operators should not need it.
	if path := env.Getenv("MINIVOICE_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(env.Stderr, "minivoice serve: cpu profile: %v\n", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(env.Stderr, "minivoice serve: cpu profile: %v\n", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	// MINIVOICE_HEAPPROFILE=FILE writes a heap profile to FILE (and the
	// goroutines to FILE.goroutines) on each SIGUSR1, for the memory per held call (bench/sip-load.sh); like the
	// CPU profile it is for benchmarks, not operators.
	if path := env.Getenv("MINIVOICE_HEAPPROFILE"); path != "" {
		// Sample every 4 KiB instead of 512: per-call objects are small.
		runtime.MemProfileRate = 4096
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
		hctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			for {
				select {
				case <-hctx.Done():
					return
				case <-usr1:
					writeHeapProfile(path, env)
				}
			}
		}()
	}
	level := new(slog.LevelVar)
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	p, err := platform.Start(ctx, platform.Config{Serve: cfg, AdminKey: env.Getenv("MINIVOICE_ADMIN_KEY"),
		SecretKey: env.Getenv(platform.EnvSecretKey), Logger: log,
		Version: Version, OnAdminKeyCreated: func(key, path string) {
			// Printed once, to stdout, never logged: logs get shipped elsewhere.
			fmt.Fprintf(env.Stdout, "operator key (shown once, also saved in %s): %s\n", path, key)
		}})
	if errors.Is(err, store.ErrSchemaNewer) {
		// Name this binary's release next to the schema versions, so the
		// operator knows which two releases disagree.
		fmt.Fprintf(env.Stderr, "minivoice serve: this is minivoice %s: %v\n", Version, err)
		return 1
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "minivoice serve: %v\n", err)
		return 1
	}
	scheme := "http"
	if p.HTTPS {
		scheme = "https"
	}
	// The console's URL goes at the end: scripts read the API's and SIP's
	// addresses from the front of this line.
	fmt.Fprintf(env.Stdout, "minivoice serving the API on %s://%s and SIP on %s (UDP and TCP); the console on %s://%s/\n",
		scheme, p.HTTPAddr, p.SIP.Addr(), scheme, p.HTTPAddr)
	if tls := p.SIP.TLSAddr(); tls.IsValid() {
		fmt.Fprintf(env.Stdout, "minivoice serving SIP over TLS on %s\n", tls)
	}
	// SIGHUP reloads the certificate files (docs/tls.md); without this it
	// would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				_ = p.ReloadCertificates() // logged by the platform
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case <-ctx.Done():
		log.Info("shutting down", slog.String("drain_timeout", cfg.DrainTimeout.String()))
	case err := <-p.Done():
		log.Error("http server stopped", slog.Any("error", err))
	}
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout)
	p.Drain(dctx)
	dcancel()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		log.Error("shutdown", slog.Any("error", err))
		return 1
	}
	log.Info("stopped")
	return 0
}

// writeHeapProfile writes the live heap, after a collection, to path, and
// the goroutines' stacks to path.goroutines (what the stack memory is).
func writeHeapProfile(path string, env Env) {
	runtime.GC()
	for _, p := range []struct{ name, path string }{{"heap", path}, {"goroutine", path + ".goroutines"}} {
		f, err := os.Create(p.path)
		if err == nil {
			err = pprof.Lookup(p.name).WriteTo(f, 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "minivoice serve: %s profile: %v\n", p.name, err)
		}
	}
}
