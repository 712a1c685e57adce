package cli

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"livefeed/handlers/config"
)

func TestHashPassword(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		var out bytes.Buffer
		if err := hashPassword(strings.NewReader("correct horse battery\r\nnext line\n"), &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		hash := strings.TrimSuffix(out.String(), "\n")
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse battery")); err != nil {
			t.Fatalf("%q is not a hash of the password: %v", hash, err)
		}
		cfg := config.Default()
		cfg.Auth.Operators = []config.Operator{{Name: "ann", PasswordHash: hash}}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("the configuration refuses the printed hash: %v", err)
		}
	})
	for name, input := range map[string]string{
		"ErrShort":   "short\n",
		"ErrEmpty":   "",
		"ErrTooLong": strings.Repeat("x", 73) + "\n", // bcrypt reads 72 bytes at most
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := hashPassword(strings.NewReader(input), &out, io.Discard); err == nil || out.Len() > 0 {
				t.Fatalf("hashPassword = %v, printed %q", err, out.String())
			}
		})
	}
}
