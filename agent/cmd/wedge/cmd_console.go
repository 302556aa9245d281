package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"wedge/internal/webauth/password"
)

// consoleStdin is where `wedge console hash-password` reads the password (a test replaces it).
var consoleStdin io.Reader = os.Stdin

// cmdConsole is `wedge console hash-password`: it reads a password (one line on stdin) and prints
// the hash to put under console.users in wedge.yaml.
func cmdConsole(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || (args[0] != "hash-password" && args[0] != "passwd") {
		fmt.Fprintln(stderr, "用法 usage: wedge console hash-password   (读取标准输入一行密码 reads the password from one line of stdin)")
		return exitUsage
	}
	fmt.Fprintln(stderr, "输入主管密码后回车 type the supervisor's password, then Enter:")
	line, err := bufio.NewReader(consoleStdin).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintf(stderr, "读取密码失败 cannot read the password: %v\n", err)
		return exitFailure
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		fmt.Fprintln(stderr, "密码为空 the password is empty")
		return exitUsage
	}
	h, err := password.Hash(pw)
	if err != nil {
		fmt.Fprintf(stderr, "无法生成哈希 cannot hash: %v\n", err)
		return exitUsage
	}
	fmt.Fprintln(stdout, h)
	return exitOK
}
