//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// peeker tells whether an idle connection is still open: a peek that does
// not wait finds nothing to read. End of stream (the upstream closed it)
// and bytes nobody asked for (no response may precede its request) both
// mean the connection cannot carry another exchange. One system call and no
// allocation; without it a POST could be written to a connection the
// upstream has already closed and fail for no fault of the upstream
// (net/http learns the same from the reader goroutine each of its
// connections keeps).
type peeker struct {
	raw   syscall.RawConn
	check func(fd uintptr) bool // p.peek, bound once
	buf   [1]byte
	alive bool
}

func (p *peeker) init(c net.Conn) {
	if sc, ok := c.(syscall.Conn); ok {
		p.raw, _ = sc.SyscallConn()
	}
	p.check = p.peek
}

func (p *peeker) connAlive() bool {
	if p.raw == nil {
		return true
	}
	p.alive = false
	return p.raw.Read(p.check) == nil && p.alive
}

func (p *peeker) peek(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	p.alive = n <= 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
	return true // done: never wait for readiness
}
