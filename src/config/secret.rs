//! Secrets in the configuration, and the project's one redaction.
//!
//! [`Secret`] holds a password, token or key; [`SecretUrl`] a URL that may carry credentials
//! (a database URL with a password, a NATS URL with a token). Both show `***` for the secret
//! part wherever they are printed (`Debug`, `Display`, the `check-config` output). Every other
//! place that shows a URL or scrubs a driver's message goes through [`redact_url`],
//! [`secrets_in_url`] and [`scrub`], so there is one set of rules:
//!
//! - userinfo `user:password@` becomes `user:***@`;
//! - a lone userinfo on a NATS URL (`nats`, `tls`, `ws`, `wss`) is a token and becomes `***@`;
//!   elsewhere it is a user name and stays;
//! - query parameters named like secrets ([`SENSITIVE_PARAMS`], compared case-insensitively
//!   after percent-decoding the name) keep their name and lose their value.
//!
//! Userinfo is taken up to the *last* `@` of the authority, so a password holding an
//! unescaped `@` or `/` is still hidden: over-masking beats a leak.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What replaces a secret.
pub const MASK: &str = "***";

/// Query parameter names whose values are secrets. The first ones are those our upstreams
/// and PostgreSQL use; the rest are cheap insurance.
pub const SENSITIVE_PARAMS: &[&str] = &[
    "api_key",
    "password",
    "sslpassword",
    "token",
    "key",
    "apikey",
    "access_token",
    "secret",
];

/// A password, token or key. Printing it in any way shows `***` (an unset secret shows as
/// empty, so `check-config` tells set from unset); only [`Secret::expose`] gives the value.
#[derive(Clone, Default)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(SecretString::from(value.into()))
    }

    /// The secret itself: only for handing it to the client that needs it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }

    fn shown(&self) -> &'static str {
        if self.is_empty() {
            ""
        } else {
            MASK
        }
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.expose() == other.expose()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.shown(), f)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.shown())
    }
}

/// A URL that may carry credentials. Printing it in any way shows [`redact_url`] of it;
/// only [`SecretUrl::expose`] gives the URL to connect with.
#[derive(Clone, Default, PartialEq)]
pub struct SecretUrl(Secret);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> SecretUrl {
        SecretUrl(Secret::new(url))
    }

    /// The URL itself: only for handing it to the client that connects.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The URL as it may be shown.
    pub fn redacted(&self) -> String {
        redact_url(self.expose())
    }

    /// The secrets inside the URL, to scrub from free text (see [`secrets_in_url`]).
    pub fn secrets(&self) -> Vec<String> {
        secrets_in_url(self.expose())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.redacted(), f)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SecretUrl, D::Error> {
        String::deserialize(d).map(SecretUrl::new)
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

/// The parts of a URL the redaction looks at (all borrowed from the text).
struct Parts<'a> {
    /// `scheme://`, or empty when the text has no scheme.
    head: &'a str,
    scheme: &'a str,
    userinfo: Option<&'a str>,
    /// From the host to the query (exclusive).
    rest: &'a str,
    query: Option<&'a str>,
    /// `#...`, kept as is.
    fragment: &'a str,
}

fn split(url: &str) -> Parts<'_> {
    let (before_fragment, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let (before_query, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_fragment, None),
    };
    let Some(i) = before_query.find("://") else {
        return Parts {
            head: "",
            scheme: "",
            userinfo: None,
            rest: before_query,
            query,
            fragment,
        };
    };
    let (head, after) = before_query.split_at(i + 3);
    let (userinfo, rest) = match after.rsplit_once('@') {
        Some((u, r)) => (Some(u), r),
        None => (None, after),
    };
    Parts {
        head,
        scheme: &head[..i],
        userinfo,
        rest,
        query,
        fragment,
    }
}

fn is_nats_scheme(scheme: &str) -> bool {
    ["nats", "tls", "ws", "wss"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
}

fn is_sensitive(raw_name: &str) -> bool {
    let name = percent_decode(raw_name);
    SENSITIVE_PARAMS
        .iter()
        .any(|sensitive| name.eq_ignore_ascii_case(sensitive))
}

/// `url` with its credentials masked (the rules are in the module doc). Text that is not a
/// URL comes back unchanged, apart from a query-like tail after `?`.
pub fn redact_url(url: &str) -> String {
    let p = split(url);
    let mut out = String::with_capacity(url.len());
    out.push_str(p.head);
    if let Some(info) = p.userinfo {
        match info.split_once(':') {
            Some((user, _password)) => {
                out.push_str(user);
                out.push(':');
                out.push_str(MASK);
            }
            None if is_nats_scheme(p.scheme) => out.push_str(MASK),
            None => out.push_str(info),
        }
        out.push('@');
    }
    out.push_str(p.rest);
    if let Some(query) = p.query {
        out.push('?');
        let masked: Vec<String> = query
            .split('&')
            .map(|segment| match segment.split_once('=') {
                Some((name, _value)) if is_sensitive(name) => format!("{name}={MASK}"),
                _ => segment.to_string(),
            })
            .collect();
        out.push_str(&masked.join("&"));
    }
    out.push_str(p.fragment);
    out
}

/// Every secret inside `url`: the userinfo password (or a NATS token) and the values of
/// sensitive query parameters, each as written and percent-decoded. For scrubbing free text
/// from lower layers (a driver's error message may quote the URL or the password).
pub fn secrets_in_url(url: &str) -> Vec<String> {
    let p = split(url);
    let mut raw: Vec<&str> = Vec::new();
    if let Some(info) = p.userinfo {
        match info.split_once(':') {
            Some((_user, password)) => raw.push(password),
            None if is_nats_scheme(p.scheme) => raw.push(info),
            None => {}
        }
    }
    if let Some(query) = p.query {
        for segment in query.split('&') {
            if let Some((name, value)) = segment.split_once('=') {
                if is_sensitive(name) {
                    raw.push(value);
                }
            }
        }
    }
    let mut secrets = Vec::new();
    for value in raw.into_iter().filter(|v| !v.is_empty()) {
        secrets.push(value.to_string());
        // A query value's `+` is a space; a password's is a plus: keep both readings.
        for decoded in [
            percent_decode(value),
            percent_decode(&value.replace('+', " ")),
        ] {
            if !decoded.is_empty() {
                secrets.push(decoded);
            }
        }
    }
    secrets.sort();
    secrets.dedup();
    secrets
}

/// `text` with every occurrence of every secret replaced by `***` (longest first, so a
/// secret that contains another is masked whole).
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut ordered: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    ordered.sort_by_key(|s| std::cmp::Reverse(s.len()));
    ordered.into_iter().fold(text.to_string(), |acc, secret| {
        acc.replace(secret.as_str(), MASK)
    })
}

/// `%XX` sequences decoded (invalid ones kept as written); the result is read as UTF-8
/// lossily, which is enough to compare names and to find a secret's decoded spelling.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_passwords_and_nats_tokens_are_masked() {
        assert_eq!(
            redact_url("postgres://u:p@h:5432/d"),
            "postgres://u:***@h:5432/d"
        );
        assert_eq!(
            redact_url("postgres://flare:s%40cret@db:5432/flare"),
            "postgres://flare:***@db:5432/flare"
        );
        assert_eq!(redact_url("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(redact_url("nats://u:p@h:4222"), "nats://u:***@h:4222");
        assert_eq!(redact_url("tls://tok@h:4222"), "tls://***@h:4222");
        assert_eq!(redact_url("nats://h:4222"), "nats://h:4222");
        assert_eq!(redact_url("https://u:hunter2@h/p"), "https://u:***@h/p");
        assert_eq!(
            redact_url("sqlite://./data/flare.db"),
            "sqlite://./data/flare.db"
        );
        // An unescaped `@` or `/` in the password is still inside the masked part.
        assert_eq!(
            redact_url("postgres://u:p@ss/w@h/d"),
            "postgres://u:***@h/d"
        );
    }

    #[test]
    fn sensitive_query_values_are_masked_and_the_rest_kept() {
        assert_eq!(
            redact_url("postgres://h/d?user=u&password=p&sslmode=require"),
            "postgres://h/d?user=u&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://u:p@h/d?sslpassword=k"),
            "postgres://u:***@h/d?sslpassword=***"
        );
        assert_eq!(
            redact_url("https://api.nasa.gov/DONKI/FLR?startDate=2024-01-01&endDate=2024-01-08&api_key=ABC123"),
            "https://api.nasa.gov/DONKI/FLR?startDate=2024-01-01&endDate=2024-01-08&api_key=***"
        );
        assert_eq!(
            redact_url("http://h/p?token=t&KEY=k&Password=p&x=1#frag"),
            "http://h/p?token=***&KEY=***&Password=***&x=1#frag"
        );
        assert_eq!(
            redact_url("http://h/p?api%5Fkey=zz"),
            "http://h/p?api%5Fkey=***"
        );
        assert_eq!(
            redact_url("http://h/p?keyring=1&monkey=2"),
            "http://h/p?keyring=1&monkey=2"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn secrets_are_found_in_every_spelling_and_scrubbed() {
        assert_eq!(
            secrets_in_url("http://h/p?api_key=a%2Bb&x=1"),
            vec!["a%2Bb".to_string(), "a+b".to_string()]
        );
        let secrets = secrets_in_url("postgres://u:s%40cret@h/d");
        assert_eq!(
            scrub("bad s@cret and s%40cret", &secrets),
            "bad *** and ***"
        );
        assert_eq!(secrets_in_url("nats://tok@h"), vec!["tok".to_string()]);
        assert!(secrets_in_url("postgres://u@h/d").is_empty());
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        let url = SecretUrl::new("postgres://flare:hunter2@db/flare");
        for shown in [
            format!("{s:?} {s} {url:?} {url}"),
            serde_json::to_string(&(&s, &url)).unwrap_or_default(),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("***"), "{shown}");
        }
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(format!("{:?}", Secret::default()), "\"\"");
    }
}
