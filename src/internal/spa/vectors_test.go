package spa

import (
	"net/netip"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// Keys of the test vectors, made with `fwknop --key-gen`.
const (
	vecKeyB64  = "ihYz29nkucFo4S3DlxwF5pb9PIAEGg0EpxV5ohqIBl4="
	vecHMACB64 = "WYukQ7wb/UPON1qEWA+63gL1cNw0RCeHR01VWn8S6H+EZ6XV6I+Ykwygi81c1CUVG0OOICdmrW4SaGFavib1vA=="
)

// vector is a packet made by the Debian fwknop 2.6.10 client with
// `-D 10.99.0.2 -U spauser -T -B file` plus the flags in name, and the
// fields it must decode to.
type vector struct {
	name       string
	passphrase bool   // --key-rijndael fwknoptest --key-hmac hmactestkey
	hmac       string // --hmac-digest-type
	wire       string

	random  string
	ts      int64
	typ     MsgType
	access  string
	addr    string
	ports   []l4.Port
	command string
	nat     string
	timeout int
	digest  string // inner digest type (-m)
}

var vectors = []vector{
	{name: "v1 -A tcp/22 -a 10.99.0.1", hmac: "sha256", wire: "+AFfEuIYGcVaEz4WIp1bOZqFkGwa6yQUSLezdFoocBSofpI7nJbysbs6umCG4ZjoEA8zO9Y2+3mopHsK1ZBkmISxIp0Ty07oKtVXpLb9lFOJSxJWYrnSMR/S8dE/K9XJj62Y6hksavJN/84m0M9HROOs+i1J2KEWqYaIpRIJT7WEaMUgpH0wecvMJV/ox2kz7I1I4y1YKuaEls/bLWiu8Y1PybM/2Sd7w",
		random: "1394251800646804", ts: 1795544500, typ: TypeAccess, access: "10.99.0.1,tcp/22",
		addr: "10.99.0.1", ports: []l4.Port{{Proto: l4.TCP, Num: 22}}, digest: "sha256"},
	{name: "v2 -f 60", hmac: "sha256", wire: "/J6xPyCT/T/0QiH7+9ltjcJ4iUsnW1bJoV1MM2sSflfWwrJTDTU952CCFiCxclhPm1WI2q3OxZvjppdGvgUwU2JjNqounYy+HFwBnsT6xbFOKkYD8QXgHnPFq5YSocBYeGeRy3YZHp7a2PHuZrzTFu+YGclkfo0uhzj4JFDZO8Tz56gjZYYfjKvHsBDP9SusAKP3iyMPZwy0SP3kpZ1GAGUBf/TpREZxE",
		random: "2019933799127549", ts: 1795544500, typ: TypeClientTimeoutAccess, access: "10.99.0.1,tcp/22",
		addr: "10.99.0.1", ports: []l4.Port{{Proto: l4.TCP, Num: 22}}, timeout: 60, digest: "sha256"},
	{name: "v3 -N 192.168.1.10:22", hmac: "sha256", wire: "8a45BqPz48jXx18k5Qu04ANxk//a3aaCAefTa7xnyo/hZNhxB+nkl7AMFuPPkB1b6vUWNpb5jZdHBRxztrxaZZVvOUq2HU/zZXnLzBz0jJQfdByQ7I248brxR8E35UW/Eks7CapvK/vkaxJ3eg1uveSNRVGP3qFsADBHp7Qz80hA8H2z6apiPPU/LieuAk3j7YTAKSV4OVfADibYB9JKHgY6hqulTXqw0VFt1aviAlUWj3rgno44LqU",
		random: "9992769885529006", ts: 1795544500, typ: TypeNATAccess, access: "10.99.0.1,tcp/22",
		addr: "10.99.0.1", ports: []l4.Port{{Proto: l4.TCP, Num: 22}}, nat: "192.168.1.10,22", digest: "sha256"},
	{name: "v4 -A udp/53,tcp/22 -s -m sha512 hmac sha384", hmac: "sha384", wire: "/2h3FnfA8hcJfLsxNIiUbpTLr9nN2/yipbHZgZJpe9YdNvt+hfee3BXPYGuJq/EbSijqw9YiOx1FDZqlqPIbPGdOqp+GHOsEQSU2nZWfTOEkJg9XCBtVsTnHoB3z/0roAQ5+jiEOsu6HpVRS9Yi04ncmZUbPgQQ7y2BFJppiu7Rwg7g4lPw+E793DFEYF5VIsEJsDBfVoZkIAqzRYkZ6G6b84Ry59OrQDmaJqEhgVfidftEbCJaCLnf0HTxhle2r9Qt/mtLB9CUT9pELUXnTy2c4e9vFZCAfYY3jXlZhcep2S2iA/bpJGs",
		random: "1302187892138188", ts: 1795544500, typ: TypeAccess, access: "0.0.0.0,udp/53,tcp/22",
		addr: "0.0.0.0", ports: []l4.Port{{Proto: l4.UDP, Num: 53}, {Proto: l4.TCP, Num: 22}}, digest: "sha512"},
	{name: "v5 -A tcp/443 -a 192.0.2.7 -m md5 hmac sha1", hmac: "sha1", wire: "+P+4nZ5mNLZNXVL580cNjT407/vTMmh3FUO5A1w3u1Vq/nFiQJfubKEOJUbp/XVRor5XPTxw648yQHJ/qdKV/4f/Rw/u+00T1pHYtOuLdSHpcxonDI6g3LYlSWiW/rKHOgUocA+TRTDgjJSi3bQUgxIA8rFuNNn/vvARTlo",
		random: "1778189968672379", ts: 1795544500, typ: TypeAccess, access: "192.0.2.7,tcp/443",
		addr: "192.0.2.7", ports: []l4.Port{{Proto: l4.TCP, Num: 443}}, digest: "md5"},
	{name: "v6 -m sha3_256 hmac sha3_256", hmac: "sha3_256", wire: "8gaO7UrUoDaJUoDkosQoQZfkzT++Zj+BUljY86qnsTlHPWXbeAtDcgCA+Wwo7OvzpMtIJK0oYQ90OMVeXI0xCOnNAazF5reuWVNAfDd69Jb7N6h9/XRYmgoAIWdnLq6WZhNS1OF/sumFrmLv4ULFF4+dTVkeu4UTWV9mZqiQ7OupxFObB6N3bbgKxbZbWAzqduArZd+bgG48s6qzC2Y/iB55RD3VPmyIE",
		random: "4295028931148502", ts: 1795544500, typ: TypeAccess, access: "10.99.0.1,tcp/22",
		addr: "10.99.0.1", ports: []l4.Port{{Proto: l4.TCP, Num: 22}}, digest: "sha3_256"},
	{name: "v7 hmac sha512", hmac: "sha512", wire: "/W/WROpAw36ooLizmMiezXCRPmXm0WD9uu6rfCKuTrOzUloE9zJSQqsMceC2kW/rYCIYuFdTG0yma+EtEaPekYlEEZMEaqS41/fB2UzptdcSADxw2/riuOyZ66Hd4EacDtSm1nE5C9WAZzxLhw6tyjl6uiU/xGRi7lMT85A4xKXNCzQ5TdrPUgVz/Z1y+oZslMAyqsphgK17Y5CZDu+RFRvkMDgXZsgKELrQZMjiYtQvIlkc5afB86zm5qsO9Rqw1CR208V+bH8A",
		random: "5978967439569657", ts: 1795544500, typ: TypeAccess, access: "10.99.0.1,tcp/22",
		addr: "10.99.0.1", ports: []l4.Port{{Proto: l4.TCP, Num: 22}}, digest: "sha256"},
	{name: "v8 passphrase keys", passphrase: true, hmac: "sha256", wire: "+VjFAfM8cIwqWqdYWDgdnxsmHCscT8hw8BHLe5RJq9TStgBp/2SkmY3C2XBYzUPNQGZpREoe9kHok5kQPacJ0M/s/Mo4Ola1PhbKuT2UJtFV+r8sFlHSOS270tFWMJAU/9da1ruFNb4CFAM/3cOf6nK+iq+RarCktoahMdtsdZcsTHzlOi9iZKuw0+YrfOOUxS/DojbeY4BgtBgB/8wHLl4QVU91aBgNQ",
		random: "1606781725197409", ts: 1795544500, typ: TypeAccess, access: "10.99.0.1,tcp/22",
		addr: "10.99.0.1", ports: []l4.Port{{Proto: l4.TCP, Num: 22}}, digest: "sha256"},
	{name: "v9 -C uptime", hmac: "sha256", wire: "/wO9tdA/R1UlmgHTiEF+dQH9+92HQO+e3+2nXiRQkZ9vPjppYcZ9VThYgHMUqdXZZVw5mVWOXv2m/udW5VTz4QccQ8MIHeoaCq3N9JtKqWdRIkkA3dHE5nhOlE+zxxoBybYV1VTsX1SyUn9spzXclKqlmfv3vTj7luTTf5gGgfLe7Oo9Kbp5v/RaDSZvAQV0f7gVp5/lV88XCfDsngDi1ZpJmxa++Ssm0",
		random: "1853477859915847", ts: 1795544500, typ: TypeCommand, access: "10.99.0.1,uptime",
		addr: "10.99.0.1", command: "uptime", digest: "sha256"},
	{name: "v10 --nat-local --nat-port 55000 -f 45", hmac: "sha256", wire: "/z3DgMQx+8c1DSvDWbWZE0uYNn7LZCzkrHXyjRETUzeceGmVguUjU1n8uINm6tyAO9P75PseCaycGTq4NaNzhup+/RtbZzStkRJujyaPZbsomWN+nYisQQrhtW2DD8bi3v7tpNpK1No3EopOZMb6YF3KVR+DCEveQKnST+lXN+YXXRySJSNVCRgIzI4yEaAiUMs5I8L/SxrQdkCqnNowNP7oudIG8PzevsC8uH0wpWca8d7CHtDWX20",
		random: "9121821847885190", ts: 1795544500, typ: TypeClientTimeoutLocalNATAccess, access: "10.99.0.1,tcp/55000",
		addr: "10.99.0.1", ports: []l4.Port{{Proto: l4.TCP, Num: 55000}}, nat: "10.99.0.2,22", timeout: 45, digest: "sha256"},
	{name: "v11 -m sha3_512 hmac sha3_512", hmac: "sha3_512", wire: "8eXN+XihPllIqSWbWOehjHqflgoNsEzFLwgDvQ+JMpoRYy8kPF618zLZiY6bHjGJiX9zn/CUQL+vmsS3PUfsbXdtPjyXQmLppaSYK+PQ7lwOlh7KSJQYzFjLo0fozNb2EHE2YXKIRHtbGK2HZGKCEHh2t6GTNg+8YRTRG50uI8tXbBLTOF9tby2Xg0Q/yDCUgiiOqPeZdo0TrbsMlSnyGAl36z1VHgKg4LvHpkvxRZnQOvlZVbFvum+04FzcV8F6dUW9smG7m4MlznexCScL4BEcMBaYFwazxJO9+0Rg7OhZ3FODZyOHGzQ",
		random: "2138283321147759", ts: 1795685164, typ: TypeAccess, access: "10.99.0.1,tcp/22",
		addr: "10.99.0.1", ports: []l4.Port{{Proto: l4.TCP, Num: 22}}, digest: "sha3_512"},
	{name: "v12 -A udp/1194 -N 192.168.1.20:1194 -f 90 -m sha384 hmac md5", hmac: "md5", wire: "/Fw0m2ZyFyiVyRacRkkzUbgAM9GoPDaQXRRQfq+QHZQwH7ffxeIHSomTeAKdzATCciy4/gaOlJbZw1tUR2IUMhDd1RT9OzulWlwS1Bm3NW0yoEiuCIwj36t9Y3cKGo00rl2nk98WyF+zGGqttHVUh0RwcII5PUgBbDUkw7lf2dANcb/eExU7bYV+shu7mLFwi+8pn+xAcLuZHFzfkElscPj70wcwX33zB4su6Hj+zv/oNUBGd0TlPZtQIr85iez3mRWPQpJQBuZg",
		random: "2508494898476458", ts: 1795685164, typ: TypeClientTimeoutNATAccess, access: "203.0.113.9,udp/1194",
		addr: "203.0.113.9", ports: []l4.Port{{Proto: l4.UDP, Num: 1194}}, nat: "192.168.1.20,1194", timeout: 90, digest: "sha384"},
}

func (vec *vector) keys(t testing.TB) Keys {
	t.Helper()
	if vec.passphrase {
		return Keys{Rijndael: []byte("fwknoptest"), HMAC: []byte("hmactestkey"), HMACDigest: vec.hmac}
	}
	k, err := DecodeKey(vecKeyB64)
	if err != nil {
		t.Fatal(err)
	}
	h, err := DecodeKey(vecHMACB64)
	if err != nil {
		t.Fatal(err)
	}
	return Keys{Rijndael: k, HMAC: h, HMACDigest: vec.hmac}
}

// openPolicy accepts every message type, any source and any tcp/udp port.
func openPolicy(k Keys) Policy {
	return Policy{Keys: k, AllowAnySource: true, AllowCommands: true, AllowNAT: true,
		AllowNATTo: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, AllowLocalNAT: true}
}

func fixedClock(unix int64) func() time.Time {
	return func() time.Time { return time.Unix(unix, 0) }
}

var vecSrc = netip.MustParseAddr("10.99.0.1")

func TestVectors(t *testing.T) {
	for _, vec := range vectors {
		vec := vec
		t.Run(vec.name, func(t *testing.T) {
			v, err := NewVerifier(openPolicy(vec.keys(t)), fixedClock(vec.ts+7), nil)
			if err != nil {
				t.Fatal(err)
			}
			m, err := v.Verify([]byte(vec.wire), vecSrc)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			checkField(t, "Random", m.Random, vec.random)
			checkField(t, "User", m.User, "spauser")
			checkField(t, "Timestamp", m.Timestamp.Unix(), vec.ts)
			checkField(t, "Version", m.Version, "3.0.0")
			checkField(t, "Type", m.Type, vec.typ)
			checkField(t, "Access", m.Access, vec.access)
			checkField(t, "Addr", m.Addr.String(), vec.addr)
			checkField(t, "Ports", len(m.Ports), len(vec.ports))
			for i := range vec.ports {
				if i < len(m.Ports) {
					checkField(t, "Port", m.Ports[i], vec.ports[i])
				}
			}
			checkField(t, "Command", m.Command, vec.command)
			checkField(t, "NATAccess", m.NATAccess, vec.nat)
			checkField(t, "ClientTimeout", m.ClientTimeout, vec.timeout)
			checkField(t, "DigestType", m.DigestType, vec.digest)
			wantGrant := vec.addr
			if vec.addr == "0.0.0.0" {
				wantGrant = vecSrc.String()
			}
			checkField(t, "Grant", m.Grant.String(), wantGrant)
			checkField(t, "Timeout", m.Timeout, time.Duration(vec.timeout)*time.Second)

			// The same bytes again: a replay.
			if _, err := v.Verify([]byte(vec.wire), vecSrc); ReasonOf(err) != ReasonReplay {
				t.Fatalf("second Verify: got %v, want replayed packet", err)
			}
		})
	}
}

func checkField[T comparable](t *testing.T, name string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}
