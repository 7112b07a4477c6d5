package main

import (
	"k8s.io/component-base/cli"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

// runControllerManager runs the upstream kube-controller-manager command with args as its flags.
func runControllerManager(args []string) int {
	command := controllermanager.NewControllerManagerCommand()
	command.SetArgs(args)
	return cli.Run(command)
}

// runScheduler runs the upstream kube-scheduler command with args as its flags.
func runScheduler(args []string) int {
	command := scheduler.NewSchedulerCommand()
	command.SetArgs(args)
	return cli.Run(command)
}
