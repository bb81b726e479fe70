//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// connAlive reports whether an idle connection is still open: a peek that
// does not wait finds nothing to read. End of stream (the upstream closed it)
// and bytes nobody asked for (no response may precede its request) both mean
// the connection cannot carry another exchange. One system call; without it
// a POST could be written to a connection the upstream has already closed
// and fail for no fault of the upstream (net/http learns the same from the
// reader goroutine each of its connections keeps).
func connAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true // done: never wait for readiness
	})
	return err == nil && alive
}
