package main

import (
	"os"
	"strconv"
	"syscall"
)

// parentPIDEnv names the variable through which a launcher asks to be outlived by nobody: when
// set to the launcher's pid, the component gets SIGTERM as soon as that process dies, even by
// SIGKILL, so a crashed test run cannot leave API servers behind.
const parentPIDEnv = "FLOTILLA_TESTENV_PARENT_PID"

func init() {
	want, err := strconv.Atoi(os.Getenv(parentPIDEnv))
	if err != nil || want <= 0 {
		return
	}
	// The signal follows the thread that forked us; Node forks from its main thread, which lives
	// as long as the process does.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0); errno != 0 {
		return
	}
	// The parent may have died before prctl took effect; then we were re-parented already.
	if os.Getppid() != want {
		os.Exit(1)
	}
}
