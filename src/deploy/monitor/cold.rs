//! The decision of `vpnjail monitor` for one replica in cold standby
//! (`standby = "cold"`), as a pure state machine: only the elected replica
//! runs its VPN client. Check results and BGP's view in; "start the client",
//! "stop it", "announce with priority k", "withdraw" out, in the order to
//! carry them out. No clock, no I/O. docs/ha.md describes the policy.
//! May touch: nothing.

use super::decide::Announced;
use std::time::Duration;

/// The settings that shape decisions (from `[site.monitor]` and the jail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// This host's priority for the replica (0 = primary): announced while
    /// its client runs and passes the checks.
    pub priority: usize,
    /// The priority announced while the client is stopped, below every
    /// serving replica (render::frr::cold_priority).
    pub cold: usize,
    /// Consecutive failed checks before the replica is withdrawn.
    pub fail_after: u32,
    /// After a withdrawal, the jail must run this long before it is
    /// announced (cold) again.
    pub hold_down: Duration,
    /// Our cold route must have been BGP's best this long before the client
    /// starts: at start, the other hosts' routes may not have arrived yet.
    pub settle: Duration,
    /// No client starts before the monitor has run this long: its BGP
    /// sessions come up and the other replicas' routes arrive first.
    pub start_wait: Duration,
    /// A started client may fail the checks this long while it connects.
    pub grace: Duration,
}

/// One round of checks and BGP's view of the anycast /32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub now: Duration,
    /// The jail runs.
    pub jail_up: bool,
    /// The client's checks passed: tun up and a DNS answer through it (only
    /// asked while the client runs).
    pub healthy: bool,
    /// BGP holds this host's own route for the /32.
    pub ours_in_bgp: bool,
    /// BGP's best route for the /32 is this host's own.
    pub best_ours: bool,
    /// FRR answered (`false`: the two fields above are guesses).
    pub bgp_known: bool,
}

/// What to do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    StartClient,
    StopClient,
    Announce(usize),
    Withdraw,
}

/// The client as this monitor last left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Stopped,
    /// Started at this time; not yet through the checks.
    Starting(Duration),
    Running,
}

/// The state of one cold replica between checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub policy: Policy,
    pub announced: Announced,
    pub client: Client,
    /// Failed checks in a row.
    pub failures: u32,
    /// When the current run of rounds with the jail up began.
    pub up_since: Option<Duration>,
    /// When our cold route became BGP's best (unbroken since).
    pub best_since: Option<Duration>,
    /// Rounds in a row FRR could not be asked.
    pub bgp_unknown: u32,
}

impl Replica {
    /// A replica whose client is `client` when the monitor starts (it may
    /// have been left running by an earlier monitor).
    pub fn new(policy: Policy, client: Client) -> Self {
        Replica {
            policy,
            announced: Announced::Unknown,
            client,
            failures: 0,
            up_since: None,
            best_since: None,
            bgp_unknown: 0,
        }
    }

    /// Takes one round; returns the actions to carry out, in order. The
    /// client is always stopped before the route that elected it goes, so
    /// two replicas never run their clients at once.
    pub fn step(&mut self, mut o: Observation) -> Vec<Action> {
        let p = self.policy;
        let mut out = Vec::new();
        // FRR not answering once (a slow vtysh) changes nothing; for
        // fail_after rounds, this host is taken as not elected, so a running
        // client stops (the others may have elected another replica).
        self.bgp_unknown = if o.bgp_known {
            0
        } else {
            self.bgp_unknown.saturating_add(1)
        };
        if self.bgp_unknown > 0 {
            if self.bgp_unknown < p.fail_after {
                return out;
            }
            o.best_ours = false;
        }
        if o.jail_up {
            self.up_since.get_or_insert(o.now);
        } else {
            self.up_since = None;
        }
        self.best_since = if o.best_ours {
            Some(self.best_since.unwrap_or(o.now))
        } else {
            None
        };
        match self.client {
            Client::Stopped => {
                if !o.jail_up {
                    self.failures = self.failures.saturating_add(1);
                    if self.failures >= p.fail_after && self.announced != Announced::Withdrawn {
                        if o.ours_in_bgp {
                            out.push(Action::Withdraw);
                        }
                        self.announced = Announced::Withdrawn;
                    }
                    return out;
                }
                self.failures = 0;
                let up_for = o.now.saturating_sub(self.up_since.unwrap_or(o.now));
                let best_for = o.now.saturating_sub(self.best_since.unwrap_or(o.now));
                match self.announced {
                    Announced::Unknown => out.push(Action::Announce(p.cold)),
                    Announced::Withdrawn if up_for >= p.hold_down => {
                        out.push(Action::Announce(p.cold));
                    }
                    Announced::Withdrawn => {}
                    Announced::At(k) if !o.ours_in_bgp => out.push(Action::Announce(k)),
                    Announced::At(k) if k != p.cold => out.push(Action::Announce(p.cold)),
                    Announced::At(_)
                        if o.best_ours && best_for >= p.settle && o.now >= p.start_wait =>
                    {
                        out.push(Action::StartClient);
                    }
                    Announced::At(_) => {}
                }
            }
            Client::Starting(_) | Client::Running if !o.best_ours && o.ours_in_bgp => {
                // Another replica is better (it serves, or a partition
                // healed): it keeps the session, this one waits cold.
                out.push(Action::StopClient);
                if self.announced != Announced::At(p.cold) {
                    out.push(Action::Announce(p.cold));
                }
                self.failures = 0;
            }
            Client::Starting(_) | Client::Running if o.jail_up && o.healthy => {
                self.failures = 0;
                self.client = Client::Running;
                if self.announced != Announced::At(p.priority) || !o.ours_in_bgp {
                    out.push(Action::Announce(p.priority));
                }
            }
            Client::Starting(t) if o.jail_up && o.now.saturating_sub(t) < p.grace => {}
            Client::Starting(_) | Client::Running => {
                self.failures = self.failures.saturating_add(1);
                if self.failures >= p.fail_after {
                    out.push(Action::StopClient);
                    if o.ours_in_bgp {
                        out.push(Action::Withdraw);
                    }
                    self.announced = Announced::Withdrawn;
                    self.up_since = if o.jail_up { Some(o.now) } else { None };
                }
            }
        }
        for a in &out {
            match *a {
                Action::StartClient => self.client = Client::Starting(o.now),
                Action::StopClient => self.client = Client::Stopped,
                Action::Announce(k) => self.announced = Announced::At(k),
                Action::Withdraw => self.announced = Announced::Withdrawn,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(priority: usize) -> Policy {
        Policy {
            priority,
            cold: 2 + priority,
            fail_after: 3,
            hold_down: Duration::from_secs(10),
            settle: Duration::from_secs(1),
            start_wait: Duration::from_millis(1100),
            grace: Duration::from_secs(5),
        }
    }

    fn obs(ms: u64, jail_up: bool, healthy: bool, ours: bool, best: bool) -> Observation {
        Observation {
            now: Duration::from_millis(ms),
            jail_up,
            healthy,
            ours_in_bgp: ours,
            best_ours: best,
            bgp_known: true,
        }
    }

    #[test]
    fn frr_silent_once_changes_nothing_for_fail_after_rounds_it_stops_the_client() {
        let mut r = Replica::new(policy(0), Client::Running);
        r.announced = Announced::At(0);
        let unknown = |ms| Observation {
            bgp_known: false,
            best_ours: false,
            ..obs(ms, true, true, true, false)
        };
        assert_eq!(r.step(unknown(0)), []);
        assert_eq!(r.step(obs(200, true, true, true, true)), []);
        assert_eq!(r.step(unknown(400)), []);
        assert_eq!(r.step(unknown(600)), []);
        assert_eq!(
            r.step(unknown(800)),
            [Action::StopClient, Action::Announce(2)]
        );
        assert_eq!(r.client, Client::Stopped);
    }

    #[test]
    fn a_cold_replica_waits_announced_below_the_others_until_bgp_elects_it() {
        let mut r = Replica::new(policy(1), Client::Stopped);
        assert_eq!(
            r.step(obs(0, true, false, false, false)),
            [Action::Announce(3)]
        );
        // Another replica is best: nothing to do, ever.
        for t in 1..20 {
            assert_eq!(r.step(obs(t * 200, true, false, true, false)), []);
        }
        assert_eq!(r.client, Client::Stopped);
    }

    #[test]
    fn elected_it_starts_its_client_after_settling_then_announces_its_priority() {
        let mut r = Replica::new(policy(0), Client::Stopped);
        assert_eq!(
            r.step(obs(0, true, false, false, true)),
            [Action::Announce(2)]
        );
        assert_eq!(r.step(obs(200, true, false, true, true)), []);
        assert_eq!(r.step(obs(1000, true, false, true, true)), []);
        assert_eq!(
            r.step(obs(1200, true, false, true, true)),
            [Action::StartClient]
        );
        // Connecting: failed checks within the grace are not counted.
        assert_eq!(r.step(obs(1400, true, false, true, true)), []);
        assert_eq!(r.step(obs(3000, true, false, true, true)), []);
        assert_eq!(
            r.step(obs(3200, true, true, true, true)),
            [Action::Announce(0)]
        );
        assert_eq!(r.client, Client::Running);
        assert_eq!(r.step(obs(3400, true, true, true, true)), []);
    }

    #[test]
    fn no_client_starts_before_the_monitor_has_waited_for_bgp() {
        let mut r = Replica::new(policy(1), Client::Stopped);
        r.policy.start_wait = Duration::from_secs(5);
        r.step(obs(0, true, false, false, true));
        for t in (200..5000).step_by(200) {
            assert_eq!(r.step(obs(t, true, false, true, true)), [], "t={t}");
        }
        assert_eq!(
            r.step(obs(5000, true, false, true, true)),
            [Action::StartClient]
        );
    }

    #[test]
    fn a_failing_client_is_stopped_before_the_route_goes() {
        let mut r = Replica::new(policy(0), Client::Running);
        r.announced = Announced::At(0);
        assert_eq!(r.step(obs(0, true, false, true, true)), []);
        assert_eq!(r.step(obs(200, true, false, true, true)), []);
        assert_eq!(
            r.step(obs(400, true, false, true, true)),
            [Action::StopClient, Action::Withdraw]
        );
        // Back as a cold candidate only after the hold-down.
        assert_eq!(r.step(obs(600, true, false, false, false)), []);
        assert_eq!(r.step(obs(10_200, true, false, false, false)), []);
        assert_eq!(
            r.step(obs(10_400, true, false, false, false)),
            [Action::Announce(2)]
        );
    }

    #[test]
    fn a_client_that_never_connects_is_stopped_after_the_grace() {
        let mut r = Replica::new(policy(0), Client::Stopped);
        r.step(obs(0, true, false, false, true));
        r.step(obs(200, true, false, true, true));
        assert_eq!(
            r.step(obs(1200, true, false, true, true)),
            [Action::StartClient]
        );
        for t in [2000, 4000, 6000, 6200, 6400] {
            assert_eq!(r.step(obs(t, true, false, true, true)), [], "t={t}");
        }
        assert_eq!(
            r.step(obs(6600, true, false, true, true)),
            [Action::StopClient, Action::Withdraw]
        );
    }

    #[test]
    fn losing_the_election_stops_the_client_and_goes_back_to_cold() {
        let mut r = Replica::new(policy(1), Client::Running);
        r.announced = Announced::At(1);
        // A better replica's route is best now (a healed partition).
        assert_eq!(
            r.step(obs(0, true, true, true, false)),
            [Action::StopClient, Action::Announce(3)]
        );
        assert_eq!(r.step(obs(200, true, false, true, false)), []);
    }

    #[test]
    fn a_stopped_jail_is_withdrawn_after_fail_after_rounds() {
        let mut r = Replica::new(policy(1), Client::Stopped);
        r.step(obs(0, true, false, false, false));
        assert_eq!(r.step(obs(200, false, false, true, false)), []);
        assert_eq!(r.step(obs(400, false, false, true, false)), []);
        assert_eq!(
            r.step(obs(600, false, false, true, false)),
            [Action::Withdraw]
        );
        assert_eq!(r.step(obs(800, false, false, false, false)), []);
    }

    #[test]
    fn a_lost_statement_is_repaired() {
        let mut r = Replica::new(policy(1), Client::Stopped);
        r.step(obs(0, true, false, false, false));
        assert_eq!(
            r.step(obs(200, true, false, false, false)),
            [Action::Announce(3)]
        );
    }
}
