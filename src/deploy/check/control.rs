//! `[dns] control`: the control API every vpndns jail listens on, checked
//! to be a loopback address (the API is for the host's operator and
//! `vpnjail status`, never for the bridge). May touch: nothing (pure).

use super::Checker;
use crate::deploy::site::SiteFile;
use std::net::SocketAddr;

impl Checker<'_> {
    pub(super) fn dns_control(&mut self, f: &SiteFile) -> Option<SocketAddr> {
        let c = f.dns.control.as_ref()?;
        match c.get_ref().parse::<SocketAddr>() {
            Ok(a) if a.ip().is_loopback() && a.port() != 0 => Some(a),
            Ok(a) => {
                self.err(
                    c.span(),
                    "dns.control",
                    format!("{a}: expected a loopback address and a port (\"127.0.0.1:8053\"): the control API is not for the bridge"),
                );
                None
            }
            Err(_) => {
                self.err(
                    c.span(),
                    "dns.control",
                    format!(
                        "{:?} is not an address:port (\"127.0.0.1:8053\")",
                        c.get_ref()
                    ),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::deploy::check::check_text;
    use std::path::Path;

    fn with(control: &str) -> Result<Option<std::net::SocketAddr>, String> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/linux-site.toml");
        let text = std::fs::read_to_string(&p).expect("example");
        let text = text.replacen("[dns]\n", &format!("[dns]\ncontrol = {control:?}\n"), 1);
        check_text(&p, &text)
            .map(|s| s.dns_control)
            .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn control_is_a_loopback_address() {
        assert_eq!(
            with("127.0.0.1:8053"),
            Ok(Some("127.0.0.1:8053".parse().expect("addr")))
        );
        let e = with("10.10.1.53:8053").expect_err("bridge address");
        assert!(e.contains("dns.control") && e.contains("loopback"), "{e}");
        let e = with("localhost").expect_err("no port");
        assert!(
            e.contains("dns.control") && e.contains("not an address:port"),
            "{e}"
        );
        assert!(with("127.0.0.1:0").is_err());
    }

    /// What the site says is what each vpndns.toml listens on, and what
    /// `vpnjail status` reads back from it.
    #[test]
    fn rendered_into_vpndns_toml_and_read_back_by_status() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/linux-site.toml");
        let text = std::fs::read_to_string(&p).expect("example");
        let text = text.replacen("[dns]\n", "[dns]\ncontrol = \"127.0.0.1:8053\"\n", 1);
        let site = check_text(&p, &text).expect("checks");
        let h = &site.hosts[0];
        let dns = h.vpndns_jail().expect("vpndns jail");
        use crate::deploy::render::linux::{NsFiles, ns_files};
        let NsFiles::Vpndns { config, .. } = ns_files(&site, h, dns).expect("render") else {
            panic!("{} was not rendered as a vpndns jail", dns.name);
        };
        let conf = &config.content;
        assert!(
            conf.contains("[control]\nlisten = \"127.0.0.1:8053\"\n"),
            "{conf}"
        );
        assert_eq!(
            crate::deploy::status::parse::control_listen(conf),
            site.dns_control
        );
        // And vpndns itself accepts the file.
        crate::proxy::config::Config::parse(Path::new("vpndns.toml"), conf)
            .expect("vpndns reads it");
    }
}
