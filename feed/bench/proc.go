package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// which Linux fixes at 100 on every architecture Go supports.
const clockTick = 10 * time.Millisecond

// ParseStatCPU returns the user and system CPU time of a process, its
// threads (living and exited) included, from the text of /proc/PID/stat
// (proc(5): fields 14 and 15, counted from 1, in clock ticks). The command
// name in field 2 may hold spaces and parentheses, so fields are counted
// from the last ')'.
func ParseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat %q: no command name", truncate(stat, 40))
	}
	fields := strings.Fields(stat[i+1:])
	// fields[0] is field 3 (state): utime is field 14, stime field 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(fields))
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc stat: utime %q, stime %q are not numbers", fields[11], fields[12])
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// ParseStatusKB returns a "Name:   123 kB" field of /proc/PID/status, such
// as VmRSS (resident memory) or VmHWM (its peak), in KiB.
func ParseStatusKB(status, name string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, name+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("/proc status: %s is %q, want a number of kB", name, strings.TrimSpace(rest))
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("/proc status: no %s line", name)
}

// Process reads the CPU time and memory of a running process from /proc.
type Process struct {
	PID int
}

// CPU returns the process's user+system CPU time so far (10 ms resolution).
func (p Process) CPU() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return 0, err
	}
	return ParseStatCPU(string(b))
}

// RSS returns the process's resident memory in KiB.
func (p Process) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
	if err != nil {
		return 0, err
	}
	return ParseStatusKB(string(b), "VmRSS")
}

// SelfCPU returns the load tool's own user+system CPU time (microsecond
// resolution), to show whether the tool itself was busy.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RaiseOpenFiles raises the soft limit on open files to the hard limit: a
// workload of 10,000 subscribers needs a descriptor for each.
func RaiseOpenFiles() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// TCP states as /proc/net/tcp writes them (include/net/tcp_states.h).
var tcpStates = map[string]string{
	"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
	"05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
	"09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}

// Socket is one line of /proc/net/tcp.
type Socket struct {
	Local, Remote string // "127.0.0.1:8080"
	State         string // "ESTABLISHED", ...
	SendQueue     int64  // bytes not yet acknowledged by the peer
	ReceiveQueue  int64  // bytes not yet read by the process
}

// ParseTCPTable reads the IPv4 sockets listed in the text of /proc/net/tcp.
// The load tool uses it to see the server's side of a connection: whether
// the server closed it and how much it has queued.
func ParseTCPTable(text string) ([]Socket, error) {
	var socks []Socket
	for n, line := range bytes.Split([]byte(text), []byte("\n")) {
		f := strings.Fields(string(line))
		if n == 0 || len(f) < 5 {
			continue // the header, or the empty last line
		}
		local, err1 := parseHexAddr(f[1])
		remote, err2 := parseHexAddr(f[2])
		tx, rx, ok := strings.Cut(f[4], ":")
		if err1 != nil || err2 != nil || !ok {
			return nil, fmt.Errorf("/proc/net/tcp line %d: %q", n+1, line)
		}
		sendQ, err1 := strconv.ParseInt(tx, 16, 64)
		recvQ, err2 := strconv.ParseInt(rx, 16, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("/proc/net/tcp line %d: queues %q", n+1, f[4])
		}
		state := tcpStates[f[3]]
		if state == "" {
			state = f[3]
		}
		socks = append(socks, Socket{Local: local, Remote: remote, State: state, SendQueue: sendQ, ReceiveQueue: recvQ})
	}
	return socks, nil
}

// parseHexAddr turns "0100007F:1F90" (an IPv4 address in the host's byte
// order, which is little-endian on every machine livefeed targets) into
// "127.0.0.1:8080".
func parseHexAddr(s string) (string, error) {
	ip, port, ok := strings.Cut(s, ":")
	if !ok || len(ip) != 8 {
		return "", fmt.Errorf("address %q", s)
	}
	a, err := strconv.ParseUint(ip, 16, 32)
	if err != nil {
		return "", err
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d.%d.%d.%d:%d", byte(a), byte(a>>8), byte(a>>16), byte(a>>24), p), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
