package mailtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/mail"
)

func addr(s string) mail.Address {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return mail.Address{Addr: s}
	}
	return a
}

func to(s ...string) []mail.Address {
	out := make([]mail.Address, len(s))
	for i, a := range s {
		out[i] = addr(a)
	}
	return out
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	var r Recorder
	to := to("a@example.org")
	if err := r.Send(context.Background(), mail.Message{To: to, Subject: "one"}); err != nil {
		t.Fatal(err)
	}
	to[0] = addr("changed@example.org") // the recorder keeps its own copy
	if err := r.Send(context.Background(), mail.Message{Subject: "no recipient"}); err == nil {
		t.Error("Send without recipients succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Send(ctx, mail.Message{To: to}); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a done context = %v", err)
	}
	boom := errors.New("boom")
	r.Err = boom
	go func() { _ = r.Send(context.Background(), mail.Message{To: to, Subject: "two"}) }()
	got := r.Wait(2, 5*time.Second)
	if len(got) != 2 || got[0].Subject != "one" || got[0].To[0].Addr != "a@example.org" || got[1].Subject != "two" {
		t.Errorf("recorded %+v", got)
	}
	if err := r.Send(context.Background(), mail.Message{To: to}); !errors.Is(err, boom) {
		t.Errorf("Send with Err set = %v", err)
	}
}
