//go:build !linux

package logx

import "syscall"

func writeFD(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func sendDontWait(fd int, b []byte) error {
	_, err := syscall.Write(fd, b)
	return err
}
