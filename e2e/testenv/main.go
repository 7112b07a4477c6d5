// Command flotilla-testenv is a multi-call binary holding the pieces of a throwaway Kubernetes
// control plane for tests. The first argument picks the component; each component runs in a
// process of its own because they share process-wide globals (feature gates, metrics, klog).
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// components maps a subcommand to its entry point, which receives the remaining arguments and
// returns the process exit code.
var components = map[string]func(args []string) int{
	"etcd":                    runEtcd,
	"kube-apiserver":          runAPIServer,
	"kube-controller-manager": runControllerManager,
	"kube-scheduler":          runScheduler,
	"kwok":                    runKwok,
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	run, ok := components[os.Args[1]]
	if !ok {
		if os.Args[1] != "-h" && os.Args[1] != "--help" && os.Args[1] != "help" {
			fmt.Fprintf(os.Stderr, "flotilla-testenv: unknown component %q\n", os.Args[1])
			usage()
			os.Exit(2)
		}
		usage()
		os.Exit(0)
	}
	os.Exit(run(os.Args[2:]))
}

func usage() {
	names := make([]string, 0, len(components))
	for name := range components {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: flotilla-testenv <component> [flags]\ncomponents: %s\n", strings.Join(names, ", "))
}
