package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"l7lb/config"
	"l7lb/fleet"
)

var fleetCommand = &command{
	name:    "fleet",
	summary: "manage a fleet of instances sharing one configuration on etcd",
	doc: `Manage a fleet: instances whose files have fleet: and share the
configuration under one etcd prefix (docs/fleet.md). Every command takes
the etcd endpoints and the prefix from --etcd and --prefix, or from the
fleet: block of an instance's file (--instance).`,
	setup: func(*flag.FlagSet) func(*call) int {
		return func(c *call) int { return c.usageError("missing command") }
	},
}

func init() {
	fleetCommand.subcommands = []*command{fleetPushCommand, fleetGetCommand, fleetStatusCommand,
		fleetStateCommand("drain", "drain a server on every instance: no new requests nor sessions; sessions stay until --timeout"),
		fleetStateCommand("disable", "take a server out of service on every instance now"),
		fleetStateCommand("enable", "end a fleet-wide drain or disable")}
}

// fleetFlags are the flags that say which fleet.
type fleetFlags struct{ etcd, prefix, instance *string }

func defineFleetFlags(fs *flag.FlagSet) fleetFlags {
	return fleetFlags{
		etcd:     fs.String("etcd", "", "etcd client `URLS`, comma-separated"),
		prefix:   fs.String("prefix", "", "the fleet's key `PREFIX`, such as /l7lb/prod"),
		instance: fs.String("instance", "", "an instance's configuration `FILE`, whose fleet: block gives etcd, prefix, tls and credentials"),
	}
}

// connect returns a client of the fleet the flags name, and its prefix.
func (ff fleetFlags) connect(c *call) (*clientv3.Client, string, int) {
	var fl *config.Fleet
	switch {
	case *ff.instance != "":
		f, _, err := config.ReadFile(*ff.instance, true)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return nil, "", exitConfig
		}
		if f.Fleet == nil {
			fmt.Fprintf(c.stderr, "%s: no fleet: block\n", *ff.instance)
			return nil, "", exitConfig
		}
		fl = f.Fleet
	case *ff.etcd != "" && *ff.prefix != "":
		fl = &config.Fleet{Etcd: strings.Split(*ff.etcd, ","), Prefix: strings.TrimSuffix(*ff.prefix, "/")}
	default:
		return nil, "", c.usageError("give --etcd and --prefix, or --instance")
	}
	cl, err := fleet.Connect(fl)
	if err != nil {
		fmt.Fprintln(c.stderr, "l7lb:", err)
		return nil, "", exitFailed
	}
	return cl, fl.Prefix, exitOK
}

// fleetTimeout bounds each command's requests to etcd.
const fleetTimeout = 10 * time.Second

// session is one command's connection to the fleet's etcd.
type session struct {
	cl     *clientv3.Client
	prefix string
	ctx    context.Context // bounds the command's requests by fleetTimeout
	cancel context.CancelFunc
}

// open connects as connect does, or returns the exit code of the failure.
func (ff fleetFlags) open(c *call) (*session, int) {
	cl, prefix, code := ff.connect(c)
	if cl == nil {
		return nil, code
	}
	ctx, cancel := context.WithTimeout(context.Background(), fleetTimeout)
	return &session{cl: cl, prefix: prefix, ctx: ctx, cancel: cancel}, exitOK
}

func (s *session) close() {
	s.cancel()
	s.cl.Close()
}

var fleetPushCommand = &command{
	name:    "push",
	summary: "validate a shared configuration and write it to etcd",
	doc: `Validate the shared configuration FILE as check does (exit 2 with every
error as FILE:LINE: field: message; nothing is written), then write it in
one transaction and print the new revision. With --if-revision N it is
written only if the shared configuration's revision is still N (0: none
pushed yet), else exit 1 naming the current revision. The file holds only
the shared keys: servers, routes, default_servers, sticky, health,
timeouts, limits, slow_start, outliers.`,
	required: []string{"config"},
	setup: func(fs *flag.FlagSet) func(*call) int {
		file := configFlag(fs)
		ifRev := fs.Int64("if-revision", -1, "write only if the shared configuration's revision is still `N`")
		ff := defineFleetFlags(fs)
		return func(c *call) int {
			name, data, err := readConfig(*file, c.stdin)
			if err == nil {
				err = checkShared(name, data, c)
			}
			if err != nil {
				fmt.Fprintln(c.stderr, err)
				return exitConfig
			}
			s, code := ff.open(c)
			if s == nil {
				return code
			}
			defer s.close()
			rev, err := fleet.Push(s.ctx, s.cl, s.prefix, data, *ifRev)
			if errors.Is(err, fleet.ErrConflict) {
				fmt.Fprintf(c.stderr, "l7lb: not written: the shared configuration is at revision %d, not %d\n", rev, *ifRev)
				return exitFailed
			}
			if err != nil {
				fmt.Fprintln(c.stderr, "l7lb: etcd:", err)
				return exitFailed
			}
			fmt.Fprintf(c.stdout, "revision %d\n", rev)
			return exitOK
		}
	},
}

// checkShared validates a shared configuration as check validates a file:
// with a placeholder for the local keys, which each instance gives.
func checkShared(name string, data []byte, c *call) error {
	v, err := config.Parse(data)
	if err == nil {
		if errs := config.CheckShared(v); len(errs) > 0 {
			return (&config.Source{Name: name, Root: v}).Locate(errs)
		}
	}
	local := []byte("listen: 127.0.0.1:1\nfleet: {etcd: [http://127.0.0.1:2379], prefix: /check}\n")
	dir := "."
	if name != stdinName {
		dir = dirOf(name)
	}
	l, err := compileFleet(dir, local, config.Document{Name: name, Data: data})
	if err != nil {
		return err
	}
	f := l.File
	fmt.Fprintf(c.stdout, "%s: ok: %d routes, %d servers, sticky %s\n", name, len(f.Routes), len(f.Servers), f.Sticky.Mode)
	return nil
}

var fleetGetCommand = &command{
	name:    "get",
	summary: "print the shared configuration and its revision",
	doc:     "Print the shared configuration as pushed, after a first line \"# revision N\".",
	setup: func(fs *flag.FlagSet) func(*call) int {
		ff := defineFleetFlags(fs)
		return func(c *call) int {
			s, code := ff.open(c)
			if s == nil {
				return code
			}
			defer s.close()
			data, rev, err := fleet.Get(s.ctx, s.cl, s.prefix)
			if err != nil {
				fmt.Fprintln(c.stderr, "l7lb: etcd:", err)
				return exitFailed
			}
			if rev == 0 {
				fmt.Fprintf(c.stderr, "l7lb: no shared configuration under %s\n", s.prefix)
				return exitFailed
			}
			fmt.Fprintf(c.stdout, "# revision %d\n%s", rev, data)
			if len(data) > 0 && data[len(data)-1] != '\n' {
				fmt.Fprintln(c.stdout)
			}
			return exitOK
		}
	},
}

var fleetStatusCommand = &command{
	name:    "status",
	summary: "show every live instance and which lag or failed to apply",
	doc: `Print the shared configuration's revision, the fleet-wide server states,
then every live instance: name, address, applied revision, last heartbeat,
the servers its own checks see down and the error of a configuration it
could not apply. Exit 0 when every instance runs the latest revision, 1
when one lags or failed.`,
	setup: func(fs *flag.FlagSet) func(*call) int {
		ff := defineFleetFlags(fs)
		return func(c *call) int {
			s, code := ff.open(c)
			if s == nil {
				return code
			}
			defer s.close()
			st, err := fleet.ReadStatus(s.ctx, s.cl, s.prefix)
			if err != nil {
				fmt.Fprintln(c.stderr, "l7lb: etcd:", err)
				return exitFailed
			}
			return writeStatus(c, st)
		}
	},
}

func writeStatus(c *call, st *fleet.Status) int {
	fmt.Fprintf(c.stdout, "shared configuration: revision %d\n", st.Revision)
	ids := make([]string, 0, len(st.States))
	for id := range st.States {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		s := st.States[id]
		if s.State == fleet.StateDraining {
			fmt.Fprintf(c.stdout, "server %s: draining until %s\n", id, s.Until.Format(time.RFC3339))
		} else {
			fmt.Fprintf(c.stdout, "server %s: %s\n", id, s.State)
		}
	}
	fmt.Fprintf(c.stdout, "%d live instances\n", len(st.Members))
	rows := [][2]string{{"NAME", "ADDRESS  REVISION  HEARTBEAT  DOWN  VERSION  ERROR"}}
	var lag, failed []string
	for _, m := range st.Members {
		var down []string
		for s, up := range m.Servers {
			if !up {
				down = append(down, s)
			}
		}
		sort.Strings(down)
		d := "-"
		if len(down) > 0 {
			d = strings.Join(down, ",")
		}
		e := "-"
		if m.Error != "" {
			e = fmt.Sprintf("revision %d: %s", m.ErrorRevision, strings.ReplaceAll(m.Error, "\n", "; "))
			failed = append(failed, m.Name)
		} else if m.Revision != st.Revision {
			lag = append(lag, m.Name)
		}
		rows = append(rows, [2]string{m.Name, fmt.Sprintf("%s  %d  %s ago  %s  %s  %s", m.Address, m.Revision, m.Heartbeat, d, m.Version, e)})
	}
	writeColumns(c.stdout, rows)
	if len(lag) > 0 {
		fmt.Fprintf(c.stdout, "lagging: %s\n", strings.Join(lag, " "))
	}
	if len(failed) > 0 {
		fmt.Fprintf(c.stdout, "failed to apply: %s\n", strings.Join(failed, " "))
	}
	if len(lag)+len(failed) > 0 {
		return exitFailed
	}
	return exitOK
}

func fleetStateCommand(name, summary string) *command {
	state := map[string]string{"drain": fleet.StateDraining, "disable": fleet.StateDisabled, "enable": fleet.StateEnabled}[name]
	return &command{
		name:    name,
		summary: summary,
		doc: "Set the state of SERVER on every instance of the fleet, through each\n" +
			"instance's engine as the admin API's " + name + " does; instances that join\nlater take it too.",
		args: []string{"SERVER"},
		setup: func(fs *flag.FlagSet) func(*call) int {
			ff := defineFleetFlags(fs)
			var timeout *time.Duration
			if name == "drain" {
				timeout = fs.Duration("timeout", config.DefaultDrainTimeout, "how long the server's sessions stay")
			}
			return func(c *call) int {
				s, code := ff.open(c)
				if s == nil {
					return code
				}
				defer s.close()
				var t time.Duration
				if timeout != nil {
					t = *timeout
				}
				if err := fleet.SetState(s.ctx, s.cl, s.prefix, c.args[0], state, t); err != nil {
					fmt.Fprintln(c.stderr, "l7lb:", err)
					return exitFailed
				}
				fmt.Fprintf(c.stdout, "server %s: %s fleet-wide\n", c.args[0], state)
				return exitOK
			}
		},
	}
}
