//! The `vpnjail` deployment tool: site model, renderers and command executor.
//!
//! # Layout
//!
//! Data flows one way: parse → decide → act.
//!
//! - [`site`] is the site file as written (serde, spans); [`check`] validates it
//!   into the typed [`model::Site`], reporting `file:line: key: problem`;
//!   [`linknet`] allocates the inner addresses of links that give none, and
//!   [`sitepath`] names the table and key of a serde error; [`advice`] warns
//!   about valid choices with a cost (`vpnjail check` prints them).
//! - [`render`] turns a validated site into the files of one host (pure functions
//!   over the embedded tera templates in `rc.d/`, `jail.conf.d/`, `pf/`, `ipsec/`,
//!   and `openvpn/`, the FreeBSD route-up hook).
//! - [`command`] holds the typed commands (argv, never shell strings), [`plan`]
//!   decides which steps create or destroy a jail, and [`exec`] is the one
//!   executor that runs, prints (dry-run) or records them.
//! - [`diagram`] draws a validated site (`vpnjail diagram`): what the picture
//!   shows, then SVG (written by us) or Graphviz dot.
//! - [`pki`] is the site's certificate authority (`vpnjail pki`, revocation),
//!   [`profile`] the files a road warrior imports (`vpnjail client`).
//! - [`status`] reads the live system, never changing it, and reports
//!   whether every host, jail, tunnel, link and session is up (`vpnjail status`).
//! - [`provider`] reads what a VPN provider hands out (endpoints; the
//!   provider's OpenVPN file) for `check.rs`.
//! - [`tunnel`] decides what a vpn jail's tunnel coming up changes (the
//!   pushed DNS; `vpnjail tunnel-up`, OpenVPN's route-up hook).
//! - [`lint`] holds the static checkers used by the tests: a jail.conf(5) parser
//!   and a pf anchor checker.
pub mod advice;
pub mod apply;
pub mod check;
pub mod command;
pub mod diagram;
pub mod exec;
pub mod fake;
pub mod keygen;
pub mod linknet;
pub mod lint;
pub mod model;
pub mod monitor;
pub mod pki;
pub mod plan;
pub mod profile;
pub mod provider;
pub mod render;
pub mod site;
pub mod sitepath;
pub mod status;
pub mod tunnel;
