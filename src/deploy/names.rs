//! The fixed names the deploy modules agree on: installed binaries and the
//! Linux backend's interfaces and daemons. Plain constants, so that check,
//! render, plan and the test host read them without importing each other.
//! May touch: nothing.

/// Where vpndns is installed, on the host and inside the vpndns jail.
pub const VPNDNS_BIN: &str = "/usr/local/sbin/vpndns";
/// Where vpnjail is installed on a Linux host (`vpnjail_bin`).
pub const VPNJAIL_BIN: &str = "/usr/local/sbin/vpnjail";

/// charon with systemd's readiness protocol (Debian package charon-systemd).
pub const CHARON: &str = "/usr/sbin/charon-systemd";
/// Where Debian's frr package installs its daemons.
pub const FRR_DIR: &str = "/usr/lib/frr";
/// kernel-libipsec's TUN device, shared by every SA of the namespace.
pub const LIBIPSEC_IF: &str = "ipsec0";
