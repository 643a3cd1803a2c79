//! The decision of `vpnjail monitor` for one local replica, as a pure state
//! machine: check results in, "announce with priority k" or "withdraw" out.
//! No clock, no I/O: the caller passes the time of each check. docs/ha.md
//! describes the policy; the tests below pin it down.
//! May touch: nothing.

use std::time::Duration;

/// The settings that shape decisions (from `[site.monitor]` and the jail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// This host's priority for the replica (0 = primary).
    pub priority: usize,
    /// The priority a standby announces: the number of replicas, below all.
    pub standby: usize,
    /// Consecutive failed checks before the replica is withdrawn.
    pub fail_after: u32,
    /// Healthy this long (after a withdrawal) before it is announced again.
    pub hold_down: Duration,
    /// Whether a recovering replica takes the traffic back from a worse one.
    pub failback: bool,
}

/// One check of the replica and of BGP's view of its anycast /32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// Time of the check (monotonic, any origin).
    pub now: Duration,
    /// The jail runs, its tun is up and a DNS query through it was answered.
    pub healthy: bool,
    /// BGP holds this host's own route for the /32 (a `network` statement).
    pub ours_in_bgp: bool,
    /// Another host announces the /32 with a priority better than standby,
    /// i.e. another replica is serving.
    pub other_serving: bool,
}

/// What to tell BGP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `network A/32 route-map VJ-ANYCAST-P<k>` with this priority.
    Announce(usize),
    /// `no network A/32`.
    Withdraw,
}

/// How long bgpd may go on listing the route after `no network` (it drops
/// it from its table asynchronously) before the monitor takes it for put
/// back, by a restarted bgpd or by hand, and withdraws it again.
pub const SETTLE: Duration = Duration::from_secs(1);

/// What this monitor has told BGP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    /// Nothing yet since the monitor started: the first check decides.
    Unknown,
    Withdrawn,
    /// Announced with this priority.
    At(usize),
}

/// The state of one replica between checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub policy: Policy,
    pub announced: Announced,
    /// Failed checks in a row.
    pub failures: u32,
    /// When the current run of healthy checks began.
    pub healthy_since: Option<Duration>,
    /// When it last told BGP to withdraw the route.
    pub withdrawn_at: Option<Duration>,
}

impl Replica {
    pub fn new(policy: Policy) -> Self {
        Replica {
            policy,
            announced: Announced::Unknown,
            failures: 0,
            healthy_since: None,
            withdrawn_at: None,
        }
    }

    /// The priority to announce now: its own, or standby when failback is
    /// off and another replica is serving.
    fn priority_now(&self, o: &Observation) -> usize {
        if !self.policy.failback && o.other_serving {
            self.policy.standby
        } else {
            self.policy.priority
        }
    }

    /// Takes one check; returns what to tell BGP, if anything.
    pub fn step(&mut self, o: Observation) -> Option<Action> {
        let action = if o.healthy {
            self.failures = 0;
            let since = *self.healthy_since.get_or_insert(o.now);
            match self.announced {
                // At start a healthy replica is announced at once.
                Announced::Unknown => Some(Action::Announce(self.priority_now(&o))),
                Announced::Withdrawn => (o.now.saturating_sub(since) >= self.policy.hold_down)
                    .then(|| Action::Announce(self.priority_now(&o))),
                Announced::At(k) if !o.ours_in_bgp => {
                    // bgpd lost the statement (restarted from frr.conf): repair.
                    Some(Action::Announce(k))
                }
                // A standby whose better replica has gone takes over.
                Announced::At(k)
                    if k == self.policy.standby
                        && k != self.policy.priority
                        && !o.other_serving =>
                {
                    Some(Action::Announce(self.policy.priority))
                }
                Announced::At(_) => None,
            }
        } else {
            self.healthy_since = None;
            self.failures = self.failures.saturating_add(1);
            match self.announced {
                Announced::Withdrawn
                    if o.ours_in_bgp
                        && self
                            .withdrawn_at
                            .is_none_or(|t| o.now.saturating_sub(t) >= SETTLE) =>
                {
                    Some(Action::Withdraw)
                }
                Announced::Withdrawn => None,
                _ if self.failures >= self.policy.fail_after => {
                    if o.ours_in_bgp {
                        Some(Action::Withdraw)
                    } else {
                        // BGP has nothing to withdraw (`no network` would fail).
                        self.announced = Announced::Withdrawn;
                        None
                    }
                }
                _ => None,
            }
        };
        self.announced = match action {
            Some(Action::Announce(k)) => Announced::At(k),
            Some(Action::Withdraw) => {
                self.withdrawn_at = Some(o.now);
                Announced::Withdrawn
            }
            None => self.announced,
        };
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(failback: bool) -> Policy {
        Policy {
            priority: 0,
            standby: 2,
            fail_after: 3,
            hold_down: Duration::from_secs(10),
            failback,
        }
    }

    fn obs_ms(ms: u64, healthy: bool, ours: bool, other: bool) -> Observation {
        Observation {
            now: Duration::from_millis(ms),
            ..obs(0, healthy, ours, other)
        }
    }

    /// bgpd drops a withdrawn route a moment later: the checks in between
    /// still see it, and withdrawing it twice would fail (`no network` of
    /// a statement that is gone). Only a route still there once BGP has had
    /// time to settle was put back, and is withdrawn again.
    #[test]
    fn a_route_bgp_still_lists_just_after_its_withdrawal_is_not_withdrawn_twice() {
        let mut r = Replica::new(policy(false));
        assert_eq!(
            r.step(obs_ms(0, true, false, false)),
            Some(Action::Announce(0))
        );
        assert_eq!(r.step(obs_ms(200, false, true, false)), None);
        assert_eq!(r.step(obs_ms(400, false, true, false)), None);
        assert_eq!(
            r.step(obs_ms(600, false, true, false)),
            Some(Action::Withdraw)
        );
        assert_eq!(r.step(obs_ms(800, false, true, false)), None, "settling");
        assert_eq!(r.step(obs_ms(1400, false, true, false)), None, "settling");
        assert_eq!(
            r.step(obs_ms(1600, false, true, false)),
            Some(Action::Withdraw),
            "put back: withdrawn again"
        );
    }

    /// When carrying out a step fails, the monitor goes back to the state
    /// before it (the executor undid the change). A withdrawn replica then
    /// still waits out its hold-down and comes back as a standby, where a
    /// state reset to "unknown" would announce it at once as the primary.
    #[test]
    fn after_a_failed_change_a_withdrawn_replica_still_waits_out_its_hold_down() {
        let mut r = Replica::new(policy(false));
        r.step(obs(0, true, false, false));
        for t in 1..=3 {
            r.step(obs(t, false, true, false));
        }
        assert_eq!(r.announced, Announced::Withdrawn);
        let before = r.clone();
        assert_eq!(r.step(obs(5, false, true, true)), Some(Action::Withdraw));
        r = before; // `no network` failed
        assert_eq!(r.step(obs(6, true, false, true)), None, "hold-down");
        assert_eq!(r.step(obs(15, true, false, true)), None, "hold-down");
        assert_eq!(
            r.step(obs(16, true, false, true)),
            Some(Action::Announce(2)),
            "back as a standby"
        );
    }

    fn obs(t: u64, healthy: bool, ours: bool, other: bool) -> Observation {
        Observation {
            now: Duration::from_secs(t),
            healthy,
            ours_in_bgp: ours,
            other_serving: other,
        }
    }

    #[test]
    fn a_healthy_replica_is_announced_at_start_with_its_priority() {
        let mut r = Replica::new(Policy {
            priority: 1,
            ..policy(true)
        });
        assert_eq!(r.step(obs(0, true, false, true)), Some(Action::Announce(1)));
        assert_eq!(r.step(obs(1, true, true, true)), None);
    }

    #[test]
    fn withdrawn_only_after_fail_after_failures_in_a_row() {
        let mut r = Replica::new(policy(true));
        assert_eq!(
            r.step(obs(0, true, false, false)),
            Some(Action::Announce(0))
        );
        assert_eq!(r.step(obs(1, false, true, false)), None);
        assert_eq!(r.step(obs(2, false, true, false)), None);
        // A good check in between resets the count.
        assert_eq!(r.step(obs(3, true, true, false)), None);
        assert_eq!(r.step(obs(4, false, true, false)), None);
        assert_eq!(r.step(obs(5, false, true, false)), None);
        assert_eq!(r.step(obs(6, false, true, false)), Some(Action::Withdraw));
        assert_eq!(r.step(obs(7, false, false, false)), None);
    }

    #[test]
    fn an_unhealthy_replica_at_start_is_withdrawn_after_fail_after() {
        let mut r = Replica::new(policy(true));
        assert_eq!(r.step(obs(0, false, true, false)), None);
        assert_eq!(r.step(obs(1, false, true, false)), None);
        assert_eq!(r.step(obs(2, false, true, false)), Some(Action::Withdraw));
    }

    #[test]
    fn nothing_is_withdrawn_when_bgp_has_no_route() {
        let mut r = Replica::new(policy(true));
        assert_eq!(r.step(obs(0, false, false, false)), None);
        assert_eq!(r.step(obs(1, false, false, false)), None);
        assert_eq!(r.step(obs(2, false, false, false)), None);
        assert_eq!(r.announced, Announced::Withdrawn);
        assert_eq!(r.step(obs(3, false, false, false)), None);
        // Healthy again: the hold-down applies from the first good check.
        assert_eq!(r.step(obs(4, true, false, false)), None);
        assert_eq!(
            r.step(obs(14, true, false, false)),
            Some(Action::Announce(0))
        );
    }

    #[test]
    fn re_announced_only_after_the_hold_down() {
        let mut r = Replica::new(policy(true));
        r.step(obs(0, true, false, false));
        for t in 1..=3 {
            r.step(obs(t, false, true, false));
        }
        assert_eq!(r.announced, Announced::Withdrawn);
        // Healthy from t=4; a failure at t=8 restarts the hold-down.
        for t in 4..8 {
            assert_eq!(r.step(obs(t, true, false, true)), None, "t={t}");
        }
        assert_eq!(r.step(obs(8, false, false, true)), None);
        for t in 9..19 {
            assert_eq!(r.step(obs(t, true, false, true)), None, "t={t}");
        }
        assert_eq!(
            r.step(obs(19, true, false, true)),
            Some(Action::Announce(0))
        );
    }

    #[test]
    fn without_failback_a_recovered_primary_joins_as_standby() {
        let mut r = Replica::new(policy(false));
        r.step(obs(0, true, false, false));
        for t in 1..=3 {
            r.step(obs(t, false, true, false));
        }
        // beta serves now; alpha recovers and waits out the hold-down.
        for t in 4..14 {
            assert_eq!(r.step(obs(t, true, false, true)), None);
        }
        assert_eq!(
            r.step(obs(14, true, false, true)),
            Some(Action::Announce(2))
        );
        assert_eq!(r.step(obs(15, true, true, true)), None);
        // beta fails: no other replica serves, alpha takes its own priority.
        assert_eq!(
            r.step(obs(16, true, true, false)),
            Some(Action::Announce(0))
        );
        assert_eq!(r.step(obs(17, true, true, false)), None);
        // Later beta is back (as standby itself): nothing changes here.
        assert_eq!(r.step(obs(18, true, true, false)), None);
    }

    #[test]
    fn with_failback_a_recovered_primary_takes_its_priority_back() {
        let mut r = Replica::new(policy(true));
        r.step(obs(0, true, false, false));
        for t in 1..=3 {
            r.step(obs(t, false, true, false));
        }
        for t in 4..14 {
            r.step(obs(t, true, false, true));
        }
        assert_eq!(
            r.step(obs(14, true, false, true)),
            Some(Action::Announce(0))
        );
    }

    #[test]
    fn a_lost_statement_is_repaired_and_a_stray_one_removed() {
        let mut r = Replica::new(policy(true));
        r.step(obs(0, true, false, false));
        assert_eq!(
            r.step(obs(1, true, false, false)),
            Some(Action::Announce(0))
        );
        for t in 2..=4 {
            r.step(obs(t, false, true, false));
        }
        assert_eq!(r.announced, Announced::Withdrawn);
        // Someone (or a restart from an old config) put it back while unhealthy.
        assert_eq!(r.step(obs(5, false, true, false)), Some(Action::Withdraw));
    }

    /// False withdrawals of one healthy replica over `runs` 10-minute runs
    /// at the default interval, each probe lost independently with
    /// probability 1% (seeded splitmix64, so the count is reproducible):
    /// (withdrawals per run, probes lost in all).
    fn false_withdrawals(fail_after: u32, runs: usize) -> (Vec<u32>, u64) {
        use crate::deploy::model::DEFAULT_MONITOR_INTERVAL;
        let mut seed = 0x5eed_0017_u64;
        let mut lost = move || {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            z.is_multiple_of(100)
        };
        let checks = 600_000 / DEFAULT_MONITOR_INTERVAL.as_millis() as u32;
        let mut per_run = Vec::new();
        let mut losses = 0;
        for _ in 0..runs {
            let mut r = Replica::new(Policy {
                fail_after,
                ..policy(true)
            });
            let (mut ours, mut withdrawals) = (false, 0);
            for i in 0..checks {
                let healthy = !lost();
                losses += u64::from(!healthy);
                match r.step(Observation {
                    now: DEFAULT_MONITOR_INTERVAL * i,
                    healthy,
                    ours_in_bgp: ours,
                    other_serving: false,
                }) {
                    Some(Action::Announce(_)) => ours = true,
                    Some(Action::Withdraw) => (ours, withdrawals) = (false, withdrawals + 1),
                    None => {}
                }
            }
            per_run.push(withdrawals);
        }
        (per_run, losses)
    }

    /// Issue 17: a healthy replica with 1% probe loss is not withdrawn with
    /// the defaults (interval 200 ms, fail_after 3, hold-down 10 s). This
    /// models probe loss only: not slow answers, not the time a round's
    /// commands take. Expected: 3000 checks x 0.01^3 = 0.003 per 10-minute
    /// run with fail_after 3, about 0.3 with fail_after 2 (printed to show
    /// why the default is 3).
    #[test]
    fn false_withdraw_rate_with_one_percent_probe_loss() {
        use crate::deploy::model::DEFAULT_FAIL_AFTER;
        let (runs, losses) = false_withdrawals(DEFAULT_FAIL_AFTER, 1000);
        let total: u32 = runs.iter().sum();
        let (two, _) = false_withdrawals(2, 1000);
        let two: u32 = two.iter().sum();
        eprintln!(
            "false withdrawals with 1% probe loss, 1000 runs of 10 min: {total} with fail_after \
             {DEFAULT_FAIL_AFTER} ({losses} probes lost), {two} with fail_after 2"
        );
        assert_eq!(runs[0], 0, "the first 10-minute run");
        assert!(total <= 10, "{total} false withdrawals in 1000 x 10 min");
        assert!(two > 100, "the model does lose probes in a row: {two}");
    }

    #[test]
    fn the_primary_with_failback_off_does_not_start_as_standby_when_alone() {
        let mut r = Replica::new(policy(false));
        assert_eq!(
            r.step(obs(0, true, false, false)),
            Some(Action::Announce(0))
        );
    }
}
