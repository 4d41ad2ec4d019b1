package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTick = 100

func procUsage(pid int) (Usage, error) {
	var u Usage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, fmt.Errorf("read process CPU time: %w", err)
	}
	// The command name (field 2) may contain spaces: fields are counted
	// after its closing parenthesis. utime and stime are fields 14, 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return u, fmt.Errorf("read process CPU time: malformed /proc/%d/stat", pid)
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 {
		return u, fmt.Errorf("read process CPU time: malformed /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return u, fmt.Errorf("read process CPU time: malformed /proc/%d/stat", pid)
	}
	u.CPU = time.Duration(utime+stime) * time.Second / clockTick
	io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return u, fmt.Errorf("read process I/O: %w", err)
	}
	for line := range bytes.Lines(io) {
		if v, ok := bytes.CutPrefix(line, []byte("write_bytes: ")); ok {
			u.WriteBytes, _ = strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		}
	}
	return u, nil
}

// machineBusy returns the CPU time all processes have used since boot
// (/proc/stat: everything but idle and iowait).
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("read machine CPU time: %w", err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, errors.New("read machine CPU time: malformed /proc/stat")
	}
	var ticks int64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, errors.New("read machine CPU time: malformed /proc/stat")
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTick, nil
}
