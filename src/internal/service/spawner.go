package service

import (
	"hash/fnv"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/spawn"
)

// SpawnerPolicy compiles cfg for the spawner: what each door may have
// run, by whom, and where the pending stop commands are journalled. The
// spawner calls it on the configuration it read itself.
func SpawnerPolicy(cfg *config.Config, env door.Env, configPath string) (*spawn.Policy, error) {
	set, err := door.Compile(cfg, env)
	if err != nil {
		return nil, err
	}
	o := set.Options
	p := &spawn.Policy{Doors: map[string]spawn.DoorPolicy{}, CommandUser: set.CommandUser,
		SendmailUser: set.SendmailUser, Journal: JournalPath(configPath)}
	p.Sendmail = []string{o.Sendmail}
	if o.Sendmail == "" {
		p.Sendmail[0] = config.DefaultSendmail
	}
	if o.MailFrom.Addr != "" {
		p.Sendmail = append(p.Sendmail, "-f", o.MailFrom.Addr)
	}
	p.Files = spawn.Files{ControlSocket: o.ControlSocket, Replay: o.SPAReplayFile}
	for _, d := range set.Doors {
		if d.OneTime != nil && !slices.Contains(p.Files.OneTime, d.OneTime.File) {
			p.Files.OneTime = append(p.Files.OneTime, d.OneTime.File)
		}
		dp := spawn.DoorPolicy{Timeout: d.Actions.CmdTimeout, AllowCommands: d.SPA != nil && d.SPA.AllowCommands}
		dp.Start, dp.Stop = d.Actions.Commands(false)
		dp.Start6, dp.Stop6 = d.Actions.Commands(true)
		for _, a := range d.Actions.Notify {
			dp.Notify = append(dp.Notify, a.Addr)
		}
		p.Doors[d.Name] = dp
	}
	return p, nil
}

// JournalPath is where the spawner journals the pending stop commands of
// the daemon of a configuration file: /var/run/knockd.commands for the
// default knockd.conf and UCI file, else a name of its own for each
// configuration file (two daemons never share a journal). /var/run is a
// tmpfs on OpenWrt, like the firewall's rules: what a power cut loses,
// it loses both.
func JournalPath(configPath string) string {
	switch configPath {
	case "/etc/knockd.conf", "/etc/config/knockd":
		return "/var/run/knockd.commands"
	}
	if abs, err := filepath.Abs(configPath); err == nil {
		configPath = abs
	}
	h := fnv.New32a()
	h.Write([]byte(configPath))
	return "/var/run/knockd-" + strconv.FormatUint(uint64(h.Sum32()), 16) + ".commands"
}
