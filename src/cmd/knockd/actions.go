package main

import (
	"github.com/knockd-go/knockd-go/src/config"
	"github.com/knockd-go/knockd-go/src/daemon"
	"github.com/knockd-go/knockd-go/src/logx"
)

func newActions(cfg *config.Config, log *logx.Logger) (daemon.Actions, func(), error) {
	return nil, func() {}, nil
}

func newSPA(d *config.Door) (daemon.SPAChecker, error) { return nil, errNoSPA }
