package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"sigs.k8s.io/kwok/kustomize/stage/node/fast"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
	"sigs.k8s.io/kwok/pkg/config"
	kwokcmd "sigs.k8s.io/kwok/pkg/kwok/cmd"
	"sigs.k8s.io/kwok/pkg/log"
	"sigs.k8s.io/kwok/pkg/utils/signals"
)

// runKwok runs kwok, which plays kubelet for fake nodes: it marks them Ready and moves the pods
// bound to them through their lifecycle. Without a --config it uses kwok's "fast" node and pod
// stages (nodes Ready at once, pods Running and Ready at once).
func runKwok(args []string) int {
	if !hasFlag(args, "config", "c") {
		stages, err := writeFastStages()
		if err != nil {
			fmt.Fprintf(os.Stderr, "kwok: %v\n", err)
			return 1
		}
		defer os.Remove(stages)
		args = append(args, "--config="+stages)
	}
	// kwok's flag helpers read os.Args themselves.
	os.Args = append([]string{os.Args[0]}, args...)
	// cobra merges pflag.CommandLine into every command, and the Kubernetes packages linked into
	// this binary register a non-bool --version there that breaks kwok's own --version. kwok's
	// binary has nothing else in it, so it starts from an empty global set.
	pflag.CommandLine = pflag.NewFlagSet(os.Args[0], pflag.ExitOnError)

	flags := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flags.ParseErrorsAllowlist.UnknownFlags = true
	flags.Usage = func() {}
	ctx := signals.SetupSignalContext()
	ctx, logger := log.InitFlags(ctx, flags)
	ctx, err := config.InitFlags(ctx, flags)
	if err != nil {
		logger.Error("Init config flags", "err", err)
		return 1
	}
	command := kwokcmd.NewCommand(ctx)
	command.PersistentFlags().AddFlagSet(flags)
	command.SetArgs(args)
	if err := command.ExecuteContext(ctx); err != nil {
		logger.Error("Execute exit", "err", err)
		return 1
	}
	return 0
}

func hasFlag(args []string, long, short string) bool {
	for _, arg := range args {
		if arg == "--"+long || strings.HasPrefix(arg, "--"+long+"=") || arg == "-"+short || strings.HasPrefix(arg, "-"+short+"=") {
			return true
		}
	}
	return false
}

func writeFastStages() (string, error) {
	file, err := os.CreateTemp("", "flotilla-kwok-stages-*.yaml")
	if err != nil {
		return "", fmt.Errorf("write default stages: %w", err)
	}
	defer file.Close()
	docs := []string{fast.DefaultNodeInit, podfast.DefaultPodReady, podfast.DefaultPodComplete, podfast.DefaultPodDelete}
	if _, err := file.WriteString(strings.Join(docs, "\n---\n")); err != nil {
		return "", fmt.Errorf("write default stages: %w", err)
	}
	return file.Name(), nil
}
