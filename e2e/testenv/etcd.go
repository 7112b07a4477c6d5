package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// runEtcd runs a single-member etcd on loopback until SIGTERM or SIGINT. It trades durability
// for speed (no fsync): the data directory belongs to one test run.
func runEtcd(args []string) int {
	flags := flag.NewFlagSet("etcd", flag.ContinueOnError)
	dataDir := flags.String("data-dir", "", "data directory (required)")
	clientPort := flags.Int("client-port", 0, "loopback port for clients (required)")
	peerPort := flags.Int("peer-port", 0, "loopback port for peers (required)")
	name := flags.String("name", "default", "member name")
	logLevel := flags.String("log-level", "warn", "debug, info, warn or error")
	readyTimeout := flags.Duration("ready-timeout", 60*time.Second, "give up when not ready within this time")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *dataDir == "" || *clientPort <= 0 || *peerPort <= 0 {
		fmt.Fprintln(os.Stderr, "etcd: --data-dir, --client-port and --peer-port are required")
		flags.Usage()
		return 2
	}

	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", *clientPort)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", *peerPort)}
	cfg := embed.NewConfig()
	cfg.Name = *name
	cfg.Dir = *dataDir
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = fmt.Sprintf("%s=%s", *name, peerURL.String())
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = *logLevel
	// NewConfig leaves this at zero, which logs every request as slow; use etcd's own default.
	cfg.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration
	// A lone member on loopback: elect itself after 100 ms instead of a second.
	cfg.TickMs = 10
	cfg.ElectionMs = 100

	// Subscribe before starting so a signal during start-up is not lost.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)

	server, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd: start: %v\n", err)
		return 1
	}
	defer server.Close()

	select {
	case <-server.Server.ReadyNotify():
		fmt.Fprintf(os.Stderr, "etcd: ready, serving clients on %s\n", clientURL.String())
	case <-time.After(*readyTimeout):
		fmt.Fprintf(os.Stderr, "etcd: not ready after %s\n", *readyTimeout)
		return 1
	case sig := <-signals:
		fmt.Fprintf(os.Stderr, "etcd: %s before ready, stopping\n", sig)
		return 0
	}

	select {
	case sig := <-signals:
		fmt.Fprintf(os.Stderr, "etcd: %s, stopping\n", sig)
		return 0
	case err := <-server.Err():
		fmt.Fprintf(os.Stderr, "etcd: %v\n", err)
		return 1
	}
}
