module github.com/knockd-go/knockd-go

go 1.23.0

require (
	github.com/coreos/go-iptables v0.8.0
	github.com/mdlayher/packet v1.1.2
	github.com/mdlayher/wol v0.0.0-20220221231636-b763a792253a
	golang.org/x/crypto v0.40.0
	golang.org/x/net v0.42.0
	golang.org/x/sys v0.34.0
)

require (
	github.com/josharian/native v1.1.0 // indirect
	github.com/mdlayher/ethernet v0.0.0-20190313224307-5b5fc417d966 // indirect
	github.com/mdlayher/socket v0.4.1 // indirect
	golang.org/x/sync v0.1.0 // indirect
)
