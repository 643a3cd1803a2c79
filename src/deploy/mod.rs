//! The `vpnjail` deployment tool: site model, renderers and command executor.
//!
//! # Layout
//!
//! Data flows one way: parse → decide → act. One line per module:
//!
//! - [`site`]: the site file as written (serde, spans), nothing checked yet;
//! - [`sitepath`]: names the table and key of a serde error in the site file;
//! - [`advice`]: warns about valid choices with a cost (`vpnjail check` prints them);
//! - [`check`]: validates the site into the typed model, `file:line: key: problem`;
//! - [`linknet`]: allocates the inner addresses of links that give none;
//! - [`provider`]: what a VPN provider hands out (endpoints, its OpenVPN file);
//! - [`model`]: the validated site every later stage reads;
//! - [`names`]: the fixed binary, daemon and interface names the stages share;
//! - [`render`]: pure functions from the site to one host's files (tera templates);
//! - [`lint`]: static checkers of rendered files (jail.conf(5), pf anchors);
//! - [`command`]: typed commands (argv, never shell strings) and plans of steps;
//! - [`plan`]: the steps that create or destroy a jail or bring a host up (FreeBSD, Linux);
//! - [`exec`]: the one executor that runs, prints (dry-run) or records a plan;
//! - `fake`: a recording, simulated FreeBSD or Linux host (test builds and the `testing` feature);
//! - [`apply`]: the acting subcommands: build a plan, then print or run it;
//! - [`keygen`]: the static keys of a `mode = "setkey"` link;
//! - [`pki`]: the site's certificate authority (`vpnjail pki`, revocation);
//! - [`profile`]: the files a road warrior imports (`vpnjail client`);
//! - [`tunnel`]: what a vpn jail's tunnel coming up changes (`vpnjail tunnel-up`);
//! - [`monitor`]: `vpnjail monitor`, announcing or withdrawing anycast routes;
//! - [`status`]: reads the live system, never changing it (`vpnjail status`);
//! - [`diagram`]: draws a validated site (`vpnjail diagram`, SVG or dot).
pub mod advice;
pub mod apply;
pub mod check;
pub mod command;
pub mod diagram;
pub mod exec;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
pub mod keygen;
pub mod linknet;
pub mod lint;
pub mod model;
pub mod monitor;
pub mod names;
pub mod pki;
pub mod plan;
pub mod profile;
pub mod provider;
pub mod render;
pub mod site;
pub mod sitepath;
pub mod status;
pub mod tunnel;
