package instance

import (
	"context"
	"time"

	"l7lb/accesslog"
	"l7lb/config"
	"l7lb/tracing"
)

// observers are the access log and the tracer of a configuration; nil
// when off. A reload that leaves their settings as they were keeps them:
// the log file stays open, the spans not yet exported stay queued.
type observers struct {
	logCfg   config.AccessLog
	log      *accesslog.Logger
	traceCfg config.Tracing
	tracer   *tracing.Tracer
}

// tracerShutdown bounds how long the spans not yet exported may take to
// leave: a collector that is down must not hold a reload or an exit.
const tracerShutdown = 5 * time.Second

// openObservers returns the observers of f: the running ones where their
// settings are unchanged, new ones otherwise. Errors name the field.
// Callers hold in.mu.
func (in *Instance) openObservers(f *config.File) (observers, error) {
	cur := in.obs
	var next observers
	if a := f.AccessLog; a != nil && in.o.AccessLog != nil {
		next.logCfg = *a
		if cur.log != nil && cur.logCfg == *a {
			next.log = cur.log
		} else {
			l, err := accesslog.New(*a, in.o.AccessLog)
			if err != nil {
				return observers{}, config.Errors{&config.FieldError{Path: "access_log.path", Msg: err.Error()}}
			}
			next.log = l
		}
	}
	if t := f.Tracing; t != nil {
		next.traceCfg = *t
		if cur.tracer != nil && cur.traceCfg == *t {
			next.tracer = cur.tracer
		} else {
			tr, err := tracing.New(*t)
			if err != nil {
				next.retire(cur, 0)
				return observers{}, config.Errors{&config.FieldError{Path: "tracing.otlp_endpoint", Msg: err.Error()}}
			}
			next.tracer = tr
		}
	}
	return next, nil
}

// retire closes, after grace, the observers of o that next does not
// keep: the requests still in flight under o's configuration log and
// trace through them until then.
func (o observers) retire(next observers, grace time.Duration) {
	var gone observers
	if o.log != nil && o.log != next.log {
		gone.log = o.log
	}
	if o.tracer != nil && o.tracer != next.tracer {
		gone.tracer = o.tracer
	}
	if gone.log == nil && gone.tracer == nil {
		return
	}
	if grace <= 0 {
		gone.close()
		return
	}
	time.AfterFunc(grace, gone.close)
}

// close writes what the access log holds and closes it, and exports the
// spans not yet exported (within tracerShutdown).
func (o observers) close() {
	if o.log != nil {
		o.log.Close()
	}
	if o.tracer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), tracerShutdown)
		defer cancel()
		o.tracer.Shutdown(ctx)
	}
}

// ReopenLog opens the access log file again by its name (SIGUSR1, after
// logrotate renamed it). An access log on standard output, or none, is
// left as it is.
func (in *Instance) ReopenLog() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.obs.log == nil {
		return nil
	}
	return in.obs.log.Reopen()
}
