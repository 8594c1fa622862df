//! Endpoint URLs: parsed once, strictly, with the `url` crate, after checking the raw text.
//!
//! The raw string is checked first because URL parsing *normalises*: IDNA maps full-width dots
//! (U+3002, U+FF0E, U+FF61) to `.`, lower-cases hosts, percent-decodes them, turns
//! `2130706433`, `0x7f.1`, `127.1` or `0177.0.0.1` into `127.0.0.1`, reads `https:host` and
//! `https:///host` as `https://host/`, drops an empty port (`host:`) and a zero-padded one
//! (`:0443`). A check made only after parsing would compare a host the operator never wrote.
//!
//! So the raw text must already be in the one form parsing leaves unchanged:
//! `scheme "://" host [":" port] ["/"]`, where the scheme is `https` or `http`, the host is a
//! lower-case DNS name (labels of `a-z 0-9 -`, 1-63 bytes, at most 253 in all), a canonical
//! dotted-quad IPv4 address (four decimal octets, no leading zero) or a bracketed IPv6 address
//! in RFC 5952 form, and the port is 1-65535 in decimal without a leading zero. The parsed URL
//! must then spell the same host and port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// A validated endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https`, or `http` for a self-hosted store on a loopback address.
    pub scheme: String,
    /// The host, lower-case ASCII (IP literals only for self-hosted stores; IPv6 without
    /// brackets).
    pub host: String,
    /// A non-default port (self-hosted stores only).
    pub port: Option<u16>,
    /// Whether the host is an IP literal.
    pub is_ip: bool,
    /// Whether the host is a loopback address or `localhost`.
    pub loopback: bool,
}

impl Endpoint {
    /// `scheme://host[:port]` as a URL string.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("{}://{host}:{p}", self.scheme),
            None => format!("{}://{host}", self.scheme),
        }
    }
}

/// Characters refused anywhere in a raw endpoint or presigned URL host part.
fn raw_problem(raw: &str) -> Option<&'static str> {
    if raw.is_empty() {
        return Some("empty endpoint");
    }
    for c in raw.chars() {
        if !c.is_ascii() {
            return Some("non-ASCII character (look-alike dots and letters are refused)");
        }
        if c.is_ascii_control() {
            return Some("control character");
        }
        if c.is_ascii_whitespace() {
            return Some("whitespace");
        }
        if c == '\\' {
            return Some("backslash");
        }
    }
    None
}

/// The authority of `scheme://authority...` exactly as written.
struct RawAuthority<'a> {
    scheme: &'a str,
    /// The host as written (IPv6 with its brackets).
    host: &'a str,
    port: Option<u16>,
    /// Everything after the authority (path, query, fragment).
    rest: &'a str,
}

/// Splits `scheme://host[:port]rest` by the grammar in the module documentation, before any
/// URL parsing.
fn split_raw(raw: &str) -> Result<RawAuthority<'_>, String> {
    let (scheme, after) = raw
        .split_once(':')
        .ok_or_else(|| "no scheme (write https://host)".to_string())?;
    if scheme != "https" && scheme != "http" {
        return Err(format!("scheme {scheme} is not https"));
    }
    let after = after
        .strip_prefix("//")
        .ok_or_else(|| format!("`{scheme}:` must be followed by `//` and the host"))?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    if authority.is_empty() {
        return Err("no host after `//`".into());
    }
    if authority.contains('@') {
        return Err("user info (`@`) in endpoint".into());
    }
    let (host, port) = if authority.starts_with('[') {
        let close = authority
            .find(']')
            .ok_or_else(|| "unclosed `[` in host".to_string())?;
        let (host, tail) = authority.split_at(close + 1);
        match tail {
            "" => (host, None),
            t => match t.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None => return Err("characters after `]` in host".into()),
            },
        }
    } else {
        match authority.split_once(':') {
            None => (authority, None),
            Some((h, p)) => (h, Some(p)),
        }
    };
    let port = port.map(check_port).transpose()?;
    Ok(RawAuthority {
        scheme,
        host,
        port,
        rest,
    })
}

/// A port as written: 1-65535, decimal digits only, no leading zero.
fn check_port(p: &str) -> Result<u16, String> {
    if p.is_empty() {
        return Err("empty port after `:`".into());
    }
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err("port is not a decimal number".into());
    }
    if p.starts_with('0') {
        return Err("port 0 or a port with a leading zero".into());
    }
    p.parse::<u16>().map_err(|_| "port above 65535".to_string())
}

/// What a raw host is, checked as written.
enum RawHost {
    Domain,
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
}

fn check_raw_host(host: &str) -> Result<RawHost, String> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| "unclosed `[` in host".to_string())?;
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| "bracketed host is not an IPv6 address".to_string())?;
        if ip.to_string() != inner {
            return Err(format!(
                "IPv6 address not in its canonical form (write [{ip}])"
            ));
        }
        return Ok(RawHost::Ipv6(ip));
    }
    if host.is_empty() {
        return Err("no host".into());
    }
    if host.contains(['[', ']']) {
        return Err("`[` or `]` in host".into());
    }
    // URL parsing reads a host whose last label is numeric (or hex) as an IPv4 address in any
    // of its notations; only the canonical dotted quad is accepted as written.
    let last = host.rsplit('.').next().unwrap_or(host);
    if !last.is_empty() && (last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x")) {
        return match host.parse::<Ipv4Addr>() {
            Ok(ip) if ip.to_string() == host => Ok(RawHost::Ipv4(ip)),
            _ => Err(
                "IPv4 address not in canonical dotted-quad form (four decimal octets, no short \
                 form, leading zero, octal or hex)"
                    .into(),
            ),
        };
    }
    if host.len() > 253 {
        return Err("host longer than 253 characters".into());
    }
    if host.split('.').any(|l| l.len() > 63) {
        return Err("host label longer than 63 characters".into());
    }
    Ok(RawHost::Domain)
}

/// Parses and validates a store endpoint.
///
/// `self_hosted`: the store is an operator-run server with an attested country; IP literals
/// and non-default ports are then accepted, and `http` on a loopback address.
pub fn parse_endpoint(raw: &str, self_hosted: bool) -> Result<Endpoint, String> {
    if let Some(p) = raw_problem(raw) {
        return Err(p.into());
    }
    if raw.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("upper-case characters (write endpoints in lower case)".into());
    }
    if raw.contains('@') {
        return Err("user info (`@`) in endpoint".into());
    }
    if raw.contains('%') {
        return Err("percent-encoding in endpoint".into());
    }
    if raw.contains('?') || raw.contains('#') {
        return Err("query or fragment in endpoint".into());
    }
    let written = split_raw(raw)?;
    if !matches!(written.rest, "" | "/") {
        return Err("endpoint has a path; give scheme://host[:port] only".into());
    }
    let kind = check_raw_host(written.host)?;
    let url = Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    let (path_ok, ep) = check_url(&url, self_hosted)?;
    if !path_ok {
        return Err("endpoint has a path; give scheme://host[:port] only".into());
    }
    // The parsed URL must be what was written: same scheme, host and port (an explicit
    // default port is the only spelling parsing drops).
    let default = if written.scheme == "https" { 443 } else { 80 };
    let same_host = match kind {
        RawHost::Domain => written.host == ep.host && !ep.is_ip,
        RawHost::Ipv4(ip) => ep.is_ip && ep.host == ip.to_string(),
        RawHost::Ipv6(ip) => ep.is_ip && ep.host == ip.to_string(),
    };
    let same_port = ep.port == written.port.filter(|&p| p != default);
    if written.scheme != ep.scheme || !same_host || !same_port {
        return Err("endpoint was normalised by URL parsing; write it in canonical form".into());
    }
    Ok(ep)
}

/// Validates scheme, user info, host and port of a parsed URL. Returns whether the path is
/// empty (`/`) and the endpoint.
fn check_url(url: &Url, self_hosted: bool) -> Result<(bool, Endpoint), String> {
    let scheme = url.scheme();
    if scheme != "https" && scheme != "http" {
        return Err(format!("scheme {scheme} is not https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("user info in URL".into());
    }
    let (host, is_ip, loopback) = match url.host() {
        None => return Err("no host".into()),
        Some(Host::Domain(d)) => {
            check_domain(d, self_hosted)?;
            (d.to_string(), false, d == "localhost")
        }
        Some(Host::Ipv4(ip)) => {
            if !self_hosted {
                return Err(
                    "IP literal host (any notation) is refused for public providers".into(),
                );
            }
            (ip.to_string(), true, ip.is_loopback())
        }
        Some(Host::Ipv6(ip)) => {
            if !self_hosted {
                return Err("IP literal host is refused for public providers".into());
            }
            (ip.to_string(), true, ip_is_loopback(IpAddr::V6(ip)))
        }
    };
    let port = url.port();
    if port.is_some() && !self_hosted {
        return Err("non-default port is refused for public providers".into());
    }
    if scheme == "http" && !(self_hosted && loopback) {
        return Err(
            "plain http is only accepted for a self-hosted store on a loopback address".into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("query or fragment in URL".into());
    }
    let path_ok = url.path() == "/" || url.path().is_empty();
    Ok((
        path_ok,
        Endpoint {
            scheme: scheme.to_string(),
            host,
            port,
            is_ip,
            loopback,
        },
    ))
}

fn check_domain(d: &str, self_hosted: bool) -> Result<(), String> {
    if d.ends_with('.') {
        return Err("trailing dot in host".into());
    }
    for label in d.split('.') {
        if label.is_empty() {
            return Err("empty label in host".into());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("host is not plain lower-case ASCII".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("host label starts or ends with `-`".into());
        }
        if !self_hosted && label.starts_with("xn--") {
            return Err("punycode (xn--) label in a public provider host".into());
        }
    }
    Ok(())
}

/// Why a presigned URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresignProblem {
    /// The URL is malformed or uses a refused scheme / user info.
    Malformed(String),
    /// The URL points somewhere other than the verified endpoint.
    OtherHost(String),
}

/// Validates a presigned URL against the verified endpoint: same scheme, same host (exact, or
/// `{bucket}.{host}` for virtual-hosted buckets when `bucket` is given), same port.
pub fn check_presigned(
    raw: &str,
    expected: &Endpoint,
    bucket: Option<&str>,
    self_hosted: bool,
) -> Result<(), PresignProblem> {
    presigned_inner(raw, expected, bucket, self_hosted).map_err(|(other, m)| {
        if other {
            PresignProblem::OtherHost(m)
        } else {
            PresignProblem::Malformed(m)
        }
    })
}

fn presigned_inner(
    raw: &str,
    expected: &Endpoint,
    bucket: Option<&str>,
    self_hosted: bool,
) -> Result<(), (bool, String)> {
    let bad = |m: &str| (false, m.to_string());
    if let Some(p) = raw_problem(raw) {
        return Err(bad(p));
    }
    let url = Url::parse(raw).map_err(|e| (false, format!("not a URL: {e}")))?;
    // Presigned URLs legitimately carry a path and a query; only scheme/host/port matter here.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("user info in presigned URL"));
    }
    if url.fragment().is_some() {
        return Err(bad("fragment in presigned URL"));
    }
    let scheme = url.scheme();
    if scheme != expected.scheme {
        return Err((
            false,
            format!("scheme {scheme} differs from the verified endpoint"),
        ));
    }
    if scheme == "http" && !(self_hosted && expected.loopback) {
        return Err(bad("plain http presigned URL"));
    }
    let host = match url.host() {
        Some(Host::Domain(d)) => d.to_string(),
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(bad("no host")),
    };
    // The raw authority must spell the host exactly as parsed: no normalisation happened.
    let raw_authority = raw
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .unwrap_or("");
    let mut spelled = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    if let Some(p) = url.port() {
        spelled = format!("{spelled}:{p}");
    }
    let default_port_spelled = scheme == "https" && raw_authority == format!("{spelled}:443");
    if raw_authority != spelled && !default_port_spelled {
        return Err(bad("host was normalised by URL parsing"));
    }
    let host_ok = host == expected.host
        || bucket.is_some_and(|b| {
            !b.is_empty()
                && host
                    .strip_prefix(b)
                    .and_then(|r| r.strip_prefix('.'))
                    .is_some_and(|base| base == expected.host)
        });
    if !host_ok {
        return Err((
            true,
            format!(
                "presigned URL host {host} is not the verified endpoint host {}",
                expected.host
            ),
        ));
    }
    if url.port() != expected.port {
        return Err((
            true,
            "presigned URL port differs from the verified endpoint".into(),
        ));
    }
    Ok(())
}

/// Whether an address is loopback, including IPv4-mapped IPv6 loopback.
pub fn ip_is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6 == Ipv6Addr::LOCALHOST
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4: Ipv4Addr| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_endpoint_rules() {
        assert!(parse_endpoint("https://s3.fr-par.scw.cloud", false).is_ok());
        assert!(parse_endpoint("https://s3.fr-par.scw.cloud/", false).is_ok());
        let ep = parse_endpoint("https://s3.fr-par.scw.cloud:443", false).expect("443 ok");
        assert_eq!(ep.port, None);
        for bad in [
            "http://s3.fr-par.scw.cloud",
            "https://s3.fr-par.scw.cloud:8443",
            "https://s3.fr-par.scw.cloud@evil.com",
            "https://evil.com@s3.fr-par.scw.cloud",
            "https://s3.fr-par.scw.cloud.",
            "https://S3.FR-PAR.SCW.CLOUD",
            "https://s3\u{3002}fr-par.scw.cloud",
            "https://2130706433",
            "https://0x7f.1",
            "https://[::1]",
            "https://s3.fr-par.scw.cloud/bucket",
            "https://s3.fr-par.scw.cloud?x=1",
            "https://xn--s3-fr-par-scw.cloud",
            "https://s3.fr-par.scw.cloud\\@evil.com",
            "https://s3.fr-par.scw.cloud\0",
            " https://s3.fr-par.scw.cloud",
            "",
        ] {
            assert!(
                parse_endpoint(bad, false).is_err(),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn self_hosted_endpoint_rules() {
        let ep = parse_endpoint("http://127.0.0.1:3900", true).expect("loopback http");
        assert!(ep.loopback && ep.is_ip && ep.port == Some(3900));
        assert!(parse_endpoint("http://localhost:3900", true).is_ok());
        assert!(parse_endpoint("https://10.0.0.5:3900", true).is_ok());
        assert!(parse_endpoint("http://10.0.0.5:3900", true).is_err());
        assert!(parse_endpoint("http://user@127.0.0.1:3900", true).is_err());
    }

    /// Spellings that URL parsing silently rewrites into an acceptable endpoint: each one is
    /// refused as written, for public and self-hosted stores alike.
    #[test]
    fn spellings_that_parsing_normalises_are_refused() {
        for bad in [
            "https:s3.fr-par.scw.cloud",
            "https:/s3.fr-par.scw.cloud",
            "https:///s3.fr-par.scw.cloud",
            "https:////s3.fr-par.scw.cloud",
            "https://s3.fr-par.scw.cloud:",
            "https://s3.fr-par.scw.cloud:/",
            "https://s3.fr-par.scw.cloud:0443",
            "https://s3.fr-par.scw.cloud:00443",
            "https://s3.fr-par.scw.cloud:+443",
            "https://s3.fr-par.scw.cloud:443:443",
            "https://s3.fr-par.scw.cloud/.",
            "https://s3.fr-par.scw.cloud/./",
            "https://s3.fr-par.scw.cloud/..",
            "https://:443",
            "https://",
            "https:",
            "s3.fr-par.scw.cloud",
        ] {
            assert!(parse_endpoint(bad, false).is_err(), "{bad:?} (public)");
            assert!(parse_endpoint(bad, true).is_err(), "{bad:?} (self-hosted)");
        }
        for bad in [
            "http://0177.0.0.1:3900",
            "http://0x7f.0.0.1:3900",
            "http://127.1:3900",
            "http://127.0.1:3900",
            "http://2130706433:3900",
            "http://127.000.000.001:3900",
            "http://127.0.0.01:3900",
            "http://127.0.0.1.:3900",
            "http://1.2.3.0x4:3900",
            "http://256.0.0.1:3900",
            "http://localhost:0",
            "http://127.0.0.1:0",
            "http://localhost:65536",
            "http://localhost:99999",
            "http://localhost:03900",
            "http://localhost:3900:",
            "http://localhost:39a0",
            "http://localhost:-1",
            "http://user@localhost:3900",
            "http://user:pw@127.0.0.1:3900",
            "http://:pw@127.0.0.1:3900",
            "http://@127.0.0.1:3900",
            "http://[::1]:03900",
            "http://[0:0:0:0:0:0:0:1]:3900",
            "http://[::0001]:3900",
            "http://[::ffff:7f00:1]:3900",
            "http://[::1]x:3900",
            "http://[::1:3900",
            "http://::1:3900",
            "http://[fe80::1%25eth0]:3900",
            "https://[::1]]:3900",
            &format!("https://{}.example:3900", "a".repeat(64)),
            &format!("https://{}:3900", vec!["a".repeat(60); 5].join(".")),
        ] {
            assert!(
                parse_endpoint(bad, true).is_err(),
                "{bad:?} must be refused"
            );
        }
        // The canonical spellings of the same addresses pass.
        for good in [
            "http://127.0.0.1:3900",
            "http://127.0.0.1:3900/",
            "http://localhost:3900",
            "http://localhost:65535",
            "http://localhost:1",
            "http://[::1]:3900",
            "http://[::ffff:127.0.0.1]:3900",
            "https://10.0.0.5:3900",
            "https://garage.internal:3900",
            "https://10.0.0.5",
            "https://[2001:db8::5]:3900",
        ] {
            assert!(parse_endpoint(good, true).is_ok(), "{good:?} must pass");
        }
        let ep = parse_endpoint("http://localhost:80", true).expect("explicit default port");
        assert_eq!(ep.port, None);
        let ep = parse_endpoint("http://[::ffff:127.0.0.1]:3900", true).expect("mapped");
        assert!(ep.loopback);
    }

    #[test]
    fn presigned_urls_must_stay_on_the_verified_host() {
        let ep = parse_endpoint("https://s3.fr-par.scw.cloud", false).expect("ok");
        let ok = "https://s3.fr-par.scw.cloud/b/k?X-Amz-Signature=abc";
        assert!(check_presigned(ok, &ep, Some("b"), false).is_ok());
        assert!(
            check_presigned("https://b.s3.fr-par.scw.cloud/k?x=1", &ep, Some("b"), false).is_ok()
        );
        assert!(check_presigned("http://s3.fr-par.scw.cloud/b/k", &ep, None, false).is_err());
        assert!(check_presigned("https://s3.nl-ams.scw.cloud/b/k", &ep, None, false).is_err());
        assert!(check_presigned("https://S3.fr-par.scw.cloud/b/k", &ep, None, false).is_err());
        assert!(check_presigned("https://s3.fr-par.scw.cloud:8443/b", &ep, None, false).is_err());
        assert!(check_presigned("https://x@s3.fr-par.scw.cloud/b", &ep, None, false).is_err());
        let tricky = "https://S3.FR-PAR.SCW.CLOUD/s3.fr-par.scw.cloud";
        assert!(check_presigned(tricky, &ep, None, false).is_err());
        assert!(check_presigned("https://s3.fr-par.scw.cloud:443/b", &ep, None, false).is_ok());
    }
}
