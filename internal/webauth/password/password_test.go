package password

import (
	"errors"
	"strings"
	"testing"
)

func TestHashAndCheck(t *testing.T) {
	h, err := Hash("密码-123")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "pbkdf2-sha256$600000$") || !Check(h, "密码-123") || Check(h, "密码-124") {
		t.Fatalf("hash %q", h)
	}
	if h2, _ := Hash("密码-123"); h2 == h {
		t.Fatal("no salt")
	}
	if Validate(h) != nil {
		t.Fatalf("Validate(%q) = %v", h, Validate(h))
	}
	if _, err := Hash(""); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty password: %v", err)
	}
	if _, err := HashIter("x", MinIterations-1); !errors.Is(err, ErrBadHash) {
		t.Fatalf("weak hash made: %v", err)
	}
}

func TestBadHashes(t *testing.T) {
	for _, bad := range []string{"", "plain", "sha256$abc", "pbkdf2-sha256$10$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"pbkdf2-sha256$10000$!!$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "pbkdf2-sha256$10000$AAAAAAAAAAAAAAAAAAAAAA$AAAA"} {
		if Check(bad, "x") {
			t.Errorf("%q accepted", bad)
		}
		if err := Validate(bad); !errors.Is(err, ErrBadHash) {
			t.Errorf("Validate(%q) = %v, want ErrBadHash", bad, err)
		}
	}
}

func TestCheckUser(t *testing.T) {
	h, err := HashIter("secret-1", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]string{"wang": h}
	if !CheckUser(users, "wang", "secret-1") {
		t.Fatal("right password refused")
	}
	if CheckUser(users, "wang", "secret-2") || CheckUser(users, "li", "secret-1") || CheckUser(nil, "", "") {
		t.Fatal("wrong password or unknown user accepted")
	}
}
