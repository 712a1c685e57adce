package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/term"
)

// maxPasswordInput bounds what is read for a password: bcrypt reads 72
// bytes at most.
const maxPasswordInput = 1024

// ReadNewPassword reads the password of a new operator from in. On a
// terminal it is asked for twice, with prompts on prompt, and not echoed,
// so it stays off the screen and a typo cannot slip into the hash. From a
// pipe or a file it is the first line, so scripts can pass it.
func ReadNewPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(f.Fd())) {
		return readFromTerminal(int(f.Fd()), prompt)
	}
	fmt.Fprintln(prompt, "Type the new operator's password and press Enter:")
	line, err := bufio.NewReader(io.LimitReader(in, maxPasswordInput)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func readFromTerminal(fd int, prompt io.Writer) (string, error) {
	var typed [2]string
	for i, ask := range []string{"New operator's password (not shown): ", "The same password again: "} {
		fmt.Fprint(prompt, ask)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt) // the Enter the terminal did not show
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		typed[i] = string(b)
	}
	if typed[0] != typed[1] {
		return "", errors.New("the two passwords differ; nothing was printed, try again")
	}
	return typed[0], nil
}
