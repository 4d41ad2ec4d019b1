//go:build !linux

package loadgen

import (
	"errors"
	"os/exec"
	"time"
)

func setParentDeathSignal(cmd *exec.Cmd) {}

func procUsage(pid int) (Usage, error) {
	return Usage{}, errors.New("process usage is read from /proc, which only Linux has")
}

func machineBusy() (time.Duration, error) {
	return 0, errors.New("machine CPU time is read from /proc/stat, which only Linux has")
}
