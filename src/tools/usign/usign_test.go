package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The key of RFC 8032 test vector 2 (message 0x72) in usign's formats,
// with key number 0102030405060708. katSig is what OpenWrt's usign
// (c4c72b1) wrote for "usign -S -m MSG -s katSec" with MSG holding the
// single byte "r": the RFC's signature, in usign's signature format.
const (
	katSec = "untrusted comment: private key 0102030405060708\n" +
		"RWRCSwAAAAAAAAAAAAAAAAAAAAAAAAAAiNKa7IGgO0kBAgMEBQYHCEzNCJso/5banbbDRuwRTg9bijGfNaumJNqM9u1PuKb7PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=\n"
	katPub = "untrusted comment: public key 0102030405060708\n" +
		"RWQBAgMEBQYHCD1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM\n"
	katSig = "untrusted comment: signed by key 0102030405060708\n" +
		"RWQBAgMEBQYHCJKgCanw1Mq4cg6CC19kJUCisntUFlA/j7N2IiPr22naCFrB5D4VmW5FjzYT0PEdjDh7Lq60MCrusA0pFhK7DAA=\n"
	rfcSeed = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
	rfcSig  = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da" +
		"085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
)

func TestKnownAnswer(t *testing.T) {
	seed, _ := hex.DecodeString(rfcSeed)
	k := &SecretKey{Num: KeyNum{1, 2, 3, 4, 5, 6, 7, 8}, Key: ed25519.NewKeyFromSeed(seed)}
	if got := string(k.Marshal("")); got != katSec {
		t.Errorf("secret key file:\n%s\nwant\n%s", got, katSec)
	}
	if got := string(k.Public().Marshal("")); got != katPub {
		t.Errorf("public key file:\n%s\nwant\n%s", got, katPub)
	}
	sig := k.Sign([]byte("r"))
	if hex.EncodeToString(sig.Sig) != rfcSig {
		t.Errorf("signature %x, RFC 8032 says %s", sig.Sig, rfcSig)
	}
	if got := string(sig.Marshal("")); got != katSig {
		t.Errorf("signature file:\n%s\nwant (usign -S)\n%s", got, katSig)
	}

	// And the files read back.
	sk, err := ParseSecretKey([]byte(katSec))
	if err != nil || !bytes.Equal(sk.Key, k.Key) || sk.Num != k.Num {
		t.Fatalf("secret key: %v", err)
	}
	pk, err := ParsePublicKey([]byte(katPub))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSignature([]byte(katSig))
	if err != nil {
		t.Fatal(err)
	}
	if err := pk.Verify([]byte("r"), s); err != nil {
		t.Errorf("verify: %v", err)
	}
	if pk.Num.String() != "0102030405060708" {
		t.Errorf("fingerprint %s", pk.Num)
	}
}

func TestVerifyFailures(t *testing.T) {
	a, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("Package: knockd-go\n")
	sig := a.Sign(msg)
	if err := a.Public().Verify(msg, sig); err != nil {
		t.Fatal(err)
	}
	other := *b.Public()
	other.Num = a.Num // same number, another key
	tests := []struct {
		name string
		key  *PublicKey
		msg  []byte
		want error
	}{
		{"changed message", a.Public(), append([]byte("X"), msg...), ErrBadSig},
		{"another key number", b.Public(), msg, ErrWrongKey},
		{"another key", &other, msg, ErrBadSig},
	}
	for _, tt := range tests {
		if err := tt.key.Verify(tt.msg, sig); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	withRounds := strings.Replace(katSec, "RWRCSwAAAAAA", "RWRCSwAAAAEA", 1) // kdfrounds 1
	tests := []struct {
		name  string
		parse func([]byte) error
		in    string
	}{
		{"no comment", func(p []byte) error { _, err := ParsePublicKey(p); return err }, "RWQBAgMEBQYHCD1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM\n"},
		{"one line", func(p []byte) error { _, err := ParsePublicKey(p); return err }, "untrusted comment: x"},
		{"signature as key", func(p []byte) error { _, err := ParsePublicKey(p); return err }, katSig},
		{"key as signature", func(p []byte) error { _, err := ParseSignature(p); return err }, katPub},
		{"bad base64", func(p []byte) error { _, err := ParseSignature(p); return err }, "untrusted comment: x\n!!!\n"},
		{"password protected", func(p []byte) error { _, err := ParseSecretKey(p); return err }, withRounds},
	}
	for _, tt := range tests {
		if err := tt.parse([]byte(tt.in)); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

// TestCommandLine runs the usign command line: generate, sign, verify
// with -p and with -P (a key directory named by fingerprint), fingerprint.
func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	f := func(n string) string { return filepath.Join(dir, n) }
	run := func(args ...string) error {
		o, err := parseArgs(args)
		if err != nil {
			return err
		}
		return run(o)
	}
	if err := os.WriteFile(f("Packages"), []byte("Package: knockd-go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := [][]string{
		{"-G", "-s", f("key.sec"), "-p", f("key.pub"), "-c", "knockd-go feed"},
		{"-S", "-m", f("Packages"), "-s", f("key.sec")},
		{"-V", "-q", "-m", f("Packages"), "-p", f("key.pub")},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			t.Fatalf("usign %v: %v", s, err)
		}
	}
	pub, _ := os.ReadFile(f("key.pub"))
	if !strings.HasPrefix(string(pub), "untrusted comment: knockd-go feed\n") {
		t.Errorf("public key file %q", pub)
	}
	k, err := ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(f("keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", k.Num.String()), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run("-V", "-q", "-m", f("Packages"), "-P", f("keys"), "-x", f("Packages.sig")); err != nil {
		t.Errorf("verify with a key directory: %v", err)
	}
	if err := os.WriteFile(f("Packages"), []byte("Package: evil\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run("-V", "-q", "-m", f("Packages"), "-p", f("key.pub")); err == nil {
		t.Error("changed Packages verified")
	}
	for _, bad := range [][]string{{"-S", "-m", f("Packages")}, {"-V", "-m", f("Packages")}, {"-x"}, {"file"}, {}} {
		if err := run(bad...); err == nil {
			t.Errorf("usign %v accepted", bad)
		}
	}
}
