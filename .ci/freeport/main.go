// Command freeport prints a TCP port on 127.0.0.1 that was free a moment
// ago, for CI steps that must restart a server on the same address.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer ln.Close()
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
}
