package sync

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// DefaultSchedule is when reconcile runs unless configured: nightly at 03:00.
const DefaultSchedule = "0 3 * * *"

// Config is the `sync:` block.
//
//	sync:
//	  schedule: "0 3 * * *"          # every connector; "" disables
//	  schedules: {rt: "*/30 * * * *"} # per connector; "" disables that one
//	  overlap: 5m
type Config struct {
	Schedule  *string           `yaml:"schedule"`
	Schedules map[string]string `yaml:"schedules"`
	Overlap   time.Duration     `yaml:"overlap"`
}

// ScheduleOf returns the cron schedule of a connector, "" when disabled.
func (c Config) ScheduleOf(connector string) string {
	if s, ok := c.Schedules[connector]; ok {
		return s
	}
	if c.Schedule != nil {
		return *c.Schedule
	}
	return DefaultSchedule
}

// Validate checks the schedules parse.
func (c Config) Validate(connectors []string) error {
	for _, name := range connectors {
		s := c.ScheduleOf(name)
		if s == "" {
			continue
		}
		if _, err := cron.ParseStandard(s); err != nil {
			return fmt.Errorf("sync: schedule %q of connector %s: %w", s, name, err)
		}
	}
	for name := range c.Schedules {
		found := false
		for _, n := range connectors {
			found = found || n == name
		}
		if !found {
			return fmt.Errorf("sync.schedules: no connector %q", name)
		}
	}
	return nil
}
