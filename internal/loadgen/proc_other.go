//go:build !linux

package loadgen

import (
	"errors"
	"os/exec"
)

func setParentDeathSignal(cmd *exec.Cmd) {}

func procUsage(pid int) (Usage, error) {
	return Usage{}, errors.New("process usage is read from /proc, which only Linux has")
}
