//! Property tests: the wire codec round-trips and never panics, and the policy never answers
//! a request whose origin or path only looks like the one it serves.
//!
//! The expected outcome of every generated request comes from an oracle written here, from
//! git's documented behaviour (`credential.c`, checked against git 2.47), and never from the
//! crate's own `Origin` or `Scope` normalisation:
//!
//! * lines are `key=value`, keys exact, the last single value wins, `url=` resets the rest;
//! * git splits `url=` at the first `://`; the host ends at the first `/`, `?` or `#`; the
//!   userinfo is what precedes the first `@` before that, `user:password` split at the first
//!   `:`; every part is percent-decoded and a decoded CR, LF or NUL is an error;
//! * an origin matches when the scheme is equal ignoring ASCII case, the host name is equal
//!   ignoring ASCII case (or, for an IPv6 literal, is the same address), and the port is equal,
//!   a missing port meaning the scheme's default.
//!
//! Where git and curl/WHATWG disagree on a URL (more than one `@` in the authority), or where
//! the helper is allowed to be stricter than git (a `?` or `#` ending the host), the oracle
//! accepts either outcome, but still demands a refusal when every reading refuses.

use std::net::Ipv6Addr;

use git_credential_gitlab_ci::{
    decide, Credential, Decision, Provenance, Request, Scope, TokenSource,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use secrecy::SecretString;

const USERNAME: &str = "gitlab-ci-token";

/// Cases per property, modest so the whole file runs in seconds in a debug build. Failures
/// are not persisted to a regressions file; the known ones are pinned as plain tests below.
fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn credential(url: &str) -> Credential {
    Credential {
        scope: Scope::parse(url).unwrap(),
        username: USERNAME.into(),
        sources: vec![TokenSource::Env("T".into())],
        expires: None,
        provenance: Provenance::Flags,
    }
}

/// Whether the helper would answer: a request that does not parse is refused.
fn answers(input: &[u8], creds: &[Credential]) -> bool {
    match Request::parse(input) {
        Ok(request) => matches!(decide(&request, creds), Decision::Answer(_)),
        Err(_) => false,
    }
}

type Lines = Vec<(String, String)>;

fn line(key: &str, value: impl Into<String>) -> (String, String) {
    (key.to_owned(), value.into())
}

fn render(lines: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in lines {
        assert!(!key.contains(['=', '\n']) && !value.contains('\n'));
        out.extend_from_slice(format!("{key}={value}\n").as_bytes());
    }
    out
}

fn shown(lines: &[(String, String)]) -> String {
    String::from_utf8_lossy(&render(lines)).into_owned()
}

// ---------------------------------------------------------------------------------------------
// 1. The codec.
// ---------------------------------------------------------------------------------------------

/// Values git could send: anything on one line without CR or NUL.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,24}",
        "[a-zA-Z0-9.:/@%_\\[\\]-]{0,24}",
        "[^\n\r\\x00]{0,24}",
    ]
}

fn request() -> impl Strategy<Value = Request> {
    let name = "[a-zA-Z0-9_.\\[\\]-]{0,12}";
    let multi_value = prop_oneof!["[ -~]{0,40}", "[^\n\r\\x00]{0,40}"];
    (
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(value()),
        btree_map(name, vec(multi_value, 1..4), 0..4),
    )
        .prop_map(
            |(protocol, host, path, username, password, multi)| Request {
                protocol,
                host,
                path,
                username,
                password: password.map(SecretString::from),
                multi,
            },
        )
}

/// One line of a message, mixing the keys we know with junk, some of it not even UTF-8.
fn junk_line() -> impl Strategy<Value = Vec<u8>> {
    let key = prop_oneof![
        4 => select(vec![
            "protocol", "host", "path", "username", "password", "url", "wwwauth[]",
            "capability[]", "quit", "", "[]", "Host", "url[]", "host ", "password_expiry_utc",
        ])
        .prop_map(String::from),
        1 => "[ -~]{0,8}",
    ];
    let value = prop_oneof![
        "[ -~]{0,40}",
        "(https?|HTTPS|ssh|cert|)://[a-zA-Z0-9@:%\\[\\]/?#._-]{0,40}",
        "(%[0-9a-fA-F]{0,2}[a-z/@:]?){0,8}",
        "[^\n]{0,20}",
    ]
    .prop_map(String::into_bytes);
    let raw = vec(any::<u8>().prop_filter("one line", |b| *b != b'\n'), 0..20);
    let value = prop_oneof![4 => value, 1 => raw];
    (
        key,
        any::<bool>(),
        value,
        select(vec!["\n", "\n", "\n", "", "\n\n"]),
    )
        .prop_map(|(key, equals, value, end)| {
            let mut out = key.into_bytes();
            if equals {
                out.push(b'=');
            }
            out.extend_from_slice(&value);
            out.extend_from_slice(end.as_bytes());
            out
        })
}

fn junk_message() -> impl Strategy<Value = Vec<u8>> {
    vec(junk_line(), 0..12).prop_map(|lines| lines.concat())
}

fn some_credentials() -> Vec<Credential> {
    vec![
        credential("https://gitlab.example.com"),
        credential("https://gitlab.example.com:8443/group"),
        credential("https://[::1]:8443"),
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn encode_then_parse_is_the_identity(request in request()) {
        let parsed = Request::parse(&request.encode());
        prop_assert!(parsed.is_ok(), "{:?}", parsed);
        prop_assert_eq!(parsed.unwrap(), request);
    }

    #[test]
    fn parse_and_decide_never_panic_on_bytes(input in vec(any::<u8>(), 0..4096)) {
        if let Ok(request) = Request::parse(&input) {
            let _ = decide(&request, &some_credentials());
        }
    }

    #[test]
    fn parse_and_decide_never_panic_on_lines(input in junk_message()) {
        if let Ok(request) = Request::parse(&input) {
            let _ = decide(&request, &some_credentials());
        }
    }

    #[test]
    fn a_carriage_return_or_nul_anywhere_is_refused(
        input in prop_oneof![junk_message(), vec(any::<u8>(), 0..512)],
        bad in select(vec![b'\r', 0u8]),
        at in any::<Index>(),
    ) {
        let mut input = input;
        input.insert(at.index(input.len() + 1), bad);
        prop_assert!(Request::parse(&input).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// The oracle.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Answer,
    Refuse,
    /// Readings of the request disagree; either outcome is acceptable.
    Either,
}

/// The origin one credential serves, spelled out by hand for the oracle.
#[derive(Clone, Copy, Debug)]
struct Served {
    url: &'static str,
    scheme: &'static str,
    /// Lowercase; an IPv6 literal in brackets.
    host: &'static str,
    port: u16,
}

const SERVED_PLAIN: Served = Served {
    url: "https://gitlab.example.com",
    scheme: "https",
    host: "gitlab.example.com",
    port: 443,
};
const SERVED_PORT: Served = Served {
    url: "https://gitlab.example.com:8443",
    scheme: "https",
    host: "gitlab.example.com",
    port: 8443,
};
const SERVED_IPV6: Served = Served {
    url: "https://[::1]:8443",
    scheme: "https",
    host: "[::1]",
    port: 8443,
};
/// A host with a `k` (for U+212A KELVIN SIGN) and an `s`/`i` (U+017F, U+0131), over http.
const SERVED_HTTP: Served = Served {
    url: "http://git.kernel.example",
    scheme: "http",
    host: "git.kernel.example",
    port: 80,
};

impl Served {
    fn default_port(&self) -> u16 {
        if self.scheme == "https" {
            443
        } else {
            80
        }
    }

    fn authority(&self) -> &'static str {
        &self.url[self.url.find("://").unwrap() + 3..]
    }

    fn name_matches(&self, name: &str) -> bool {
        match self
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
        {
            Some(ours) => {
                let ours: Ipv6Addr = ours.parse().unwrap();
                name.strip_prefix('[')
                    .and_then(|n| n.strip_suffix(']'))
                    .and_then(|n| n.parse::<Ipv6Addr>().ok())
                    == Some(ours)
            }
            None => name.eq_ignore_ascii_case(self.host),
        }
    }

    fn port_matches(&self, port: &str) -> bool {
        (1..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>() == Ok(u32::from(self.port))
    }

    /// `host` as git sends it: `name`, `name:port`, `[v6]`, `[v6]:port`.
    fn host_matches(&self, host: &str) -> bool {
        if self.port == self.default_port() && self.name_matches(host) {
            return true;
        }
        match host.rsplit_once(':') {
            Some((name, port)) => self.name_matches(name) && self.port_matches(port),
            None => false,
        }
    }
}

/// git's `url_decode`, plus the check that makes git die on a decoded CR, LF or NUL.
fn git_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|&c| (c as char).to_digit(16));
        if b[i] == b'%' {
            if let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    if out.iter().any(|c| matches!(c, b'\r' | b'\n' | 0)) {
        return None;
    }
    String::from_utf8(out).ok()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AtRule {
    /// git's reading: the first `@` before the end of the host.
    First,
    /// curl's and WHATWG's reading: the last one.
    Last,
}

#[derive(Default, Debug)]
struct Attrs {
    protocol: Option<String>,
    host: Option<String>,
    path: Option<String>,
    username: Option<String>,
}

/// `url=` as git's `credential_from_url` reads it; `None` when git would refuse it.
fn read_url(url: &str, at_rule: AtRule) -> Option<Attrs> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty() {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(end);
    let at = match at_rule {
        AtRule::First => authority.find('@'),
        AtRule::Last => authority.rfind('@'),
    };
    let (userinfo, host) = match at {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let mut attrs = Attrs {
        protocol: Some(scheme.to_owned()),
        host: Some(git_decode(host)?),
        ..Attrs::default()
    };
    if let Some(userinfo) = userinfo {
        let user = match userinfo.split_once(':') {
            Some((user, password)) => {
                git_decode(password)?;
                user
            }
            None => userinfo,
        };
        attrs.username = Some(git_decode(user)?);
    }
    if !after.is_empty() {
        let path = git_decode(&after[1..])?;
        let path = path.trim_end_matches('/');
        if !path.is_empty() {
            attrs.path = Some(path.to_owned());
        }
    }
    Some(attrs)
}

/// The attributes a message leaves behind, or `None` when git would refuse the message.
fn read_lines(lines: &[(String, String)], at_rule: AtRule) -> Option<Attrs> {
    let mut attrs = Attrs::default();
    for (key, value) in lines {
        if format!("{key}{value}").contains(['\r', '\0']) {
            return None;
        }
        match key.as_str() {
            "protocol" => attrs.protocol = Some(value.clone()),
            "host" => attrs.host = Some(value.clone()),
            "path" => attrs.path = Some(value.clone()),
            "username" => attrs.username = Some(value.clone()),
            "url" => attrs = read_url(value, at_rule)?,
            _ => {}
        }
    }
    Some(attrs)
}

/// Whether a URL in the message has a `?` or `#` before its first `/`: git ends the host
/// there, the helper may not, and refusing such a request is allowed.
fn has_query_in_authority(lines: &[(String, String)]) -> bool {
    lines.iter().any(|(key, value)| {
        key == "url"
            && value.split_once("://").is_some_and(|(_, rest)| {
                let authority = rest.split('/').next().unwrap_or("");
                authority.contains(['?', '#'])
            })
    })
}

fn combine(first: bool, last: bool, stricter_allowed: bool) -> Expect {
    match (first, last) {
        (false, false) => Expect::Refuse,
        (true, true) if !stricter_allowed => Expect::Answer,
        _ => Expect::Either,
    }
}

/// What a credential for `served` (no path scope) must do with the message.
fn expect_origin(lines: &[(String, String)], served: &Served) -> Expect {
    let one = |at_rule| {
        let Some(attrs) = read_lines(lines, at_rule) else {
            return false;
        };
        let (Some(protocol), Some(host)) = (attrs.protocol, attrs.host) else {
            return false;
        };
        protocol.eq_ignore_ascii_case(served.scheme)
            && served.host_matches(&host)
            && attrs.username.as_deref().is_none_or(|u| u == USERNAME)
    };
    combine(
        one(AtRule::First),
        one(AtRule::Last),
        has_query_in_authority(lines),
    )
}

/// What a credential scoped to `https://h/group` must do with the message (origin `h`).
fn expect_group_path(lines: &[(String, String)]) -> Expect {
    let Some(attrs) = read_lines(lines, AtRule::First) else {
        return Expect::Refuse;
    };
    let Some(path) = attrs.path else {
        return Expect::Refuse;
    };
    let under = |p: &str| {
        !p.contains('%')
            && !p.chars().any(char::is_control)
            && p.split('/')
                .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
            && p.split('/').next() == Some("group")
    };
    let trimmed = path.trim_matches('/');
    match (under(trimmed), trimmed.len() == path.len()) {
        (false, _) => Expect::Refuse,
        (true, true) => Expect::Answer,
        // `/group/p` or `group/p/`: under the scope once the slashes go; either is fine.
        (true, false) => Expect::Either,
    }
}

fn check(
    lines: &[(String, String)],
    creds: &[Credential],
    expect: Expect,
) -> Result<(), TestCaseError> {
    let answered = answers(&render(lines), creds);
    match expect {
        Expect::Answer => prop_assert!(answered, "refused a request it serves: {:?}", shown(lines)),
        Expect::Refuse => prop_assert!(!answered, "ANSWERED a lookalike: {:?}", shown(lines)),
        Expect::Either => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. Lookalike origins.
// ---------------------------------------------------------------------------------------------

fn flip_case(s: &str, mask: &[bool]) -> String {
    s.chars()
        .zip(mask.iter().copied().chain(std::iter::repeat(false)))
        .map(|(c, flip)| match flip {
            true if c.is_ascii_lowercase() => c.to_ascii_uppercase(),
            true => c.to_ascii_lowercase(),
            false => c,
        })
        .collect()
}

fn percent_encode(s: &str, mask: &[bool], upper: bool) -> String {
    let mut out = String::new();
    for (c, encode) in s
        .chars()
        .zip(mask.iter().copied().chain(std::iter::repeat(false)))
    {
        if encode {
            for byte in c.to_string().bytes() {
                out.push_str(&match upper {
                    true => format!("%{byte:02X}"),
                    false => format!("%{byte:02x}"),
                });
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that look like `c`, or fold to it under Unicode rules, but are not it.
fn confusables(c: char) -> Vec<char> {
    let mut out = Vec::new();
    if c.is_ascii_graphic() {
        // The fullwidth form, U+FF01..U+FF5E.
        out.push(char::from_u32(c as u32 + 0xFEE0).unwrap());
    }
    out.extend_from_slice(match c {
        'a' => &['\u{430}', '\u{251}', '\u{e0}'],
        'c' => &['\u{441}', '\u{217d}'],
        'e' => &['\u{435}', '\u{e9}'],
        'g' => &['\u{261}'],
        'i' => &['\u{456}', '\u{131}', '\u{130}'],
        'k' => &['\u{212a}', '\u{3ba}'],
        'l' => &['\u{4cf}', '\u{217c}', '1', 'I'],
        'm' => &['\u{217f}'],
        'n' => &['\u{578}'],
        'o' => &['\u{43e}', '\u{3bf}', '0'],
        'p' => &['\u{440}'],
        'r' => &['\u{433}'],
        's' => &['\u{17f}', '\u{455}'],
        't' => &['\u{442}'],
        'x' => &['\u{445}'],
        '.' => &['\u{3002}', '\u{ff61}', '\u{2024}', ','],
        ':' => &['\u{ff1a}', '\u{2236}'],
        '1' => &['l', '\u{661}'],
        _ => &[],
    });
    out
}

#[derive(Clone, Debug)]
enum Mutation {
    Confusable(Index, Index),
    Insert(Index, &'static str),
    Delete(Index),
    PercentEncode(Index, bool),
    Duplicate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let inserted = select(vec![
        "\u{200b}", "\u{ad}", "\u{301}", "\u{feff}", "-", ".", "_", " ", "\t", "%", "@", ":", "[",
        "]", "/", "\\", "*", "x", "0",
    ]);
    prop_oneof![
        3 => (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Mutation::Confusable(i, j)),
        2 => (any::<Index>(), inserted).prop_map(|(i, s)| Mutation::Insert(i, s)),
        1 => any::<Index>().prop_map(Mutation::Delete),
        2 => (any::<Index>(), any::<bool>()).prop_map(|(i, u)| Mutation::PercentEncode(i, u)),
        1 => any::<Index>().prop_map(Mutation::Duplicate),
    ]
}

fn mutate(s: &str, m: &Mutation) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return s.to_owned();
    }
    match m {
        Mutation::Confusable(i, j) => {
            let i = i.index(chars.len());
            let others = confusables(chars[i]);
            if others.is_empty() {
                chars.insert(i, '\u{200b}');
            } else {
                chars[i] = others[j.index(others.len())];
            }
        }
        Mutation::Insert(i, text) => {
            let i = i.index(chars.len() + 1);
            chars.splice(i..i, text.chars());
        }
        Mutation::Delete(i) => {
            chars.remove(i.index(chars.len()));
        }
        Mutation::PercentEncode(i, upper) => {
            let i = i.index(chars.len());
            let encoded = percent_encode(&chars[i].to_string(), &[true], *upper);
            chars.splice(i..=i, encoded.chars());
        }
        Mutation::Duplicate(i) => {
            let i = i.index(chars.len());
            chars.insert(i, chars[i]);
        }
    }
    chars.into_iter().collect()
}

const IPV6_HOSTS: &[&str] = &[
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::0:1]",
    "[0000::0001]",
    "[::0.0.0.1]",
    "[::2]",
    "[::]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::1%25lo]",
    "[::1%lo]",
    "[fe80::1]",
    "[::1",
    "::1",
    "[[::1]]",
    "[::1]]",
    "[ ::1]",
    "[::1 ]",
    "[::1]x",
    "[::1].attacker.example",
    "[::1]@evil.example",
    "user@[::1]",
    "[::\u{ff11}]",
    "%5b::1%5d",
    "127.0.0.1",
    "localhost",
    "[gitlab.example.com]",
];

/// Host names (without a port) that are, or look like, the served one.
fn host_names(served: Served) -> BoxedStrategy<String> {
    let h = served.host;
    let mut fixed: Vec<String> = vec![
        format!("{h}."),
        format!("{h}.attacker.example"),
        format!("attacker-{h}"),
        format!("attacker.{h}"),
        format!("x{h}"),
        h[..h.len() - 1].to_owned(),
        format!("{h}x"),
        format!(".{h}"),
        format!("{h}.."),
        format!("xn--{h}"),
        "xn--gitlab-5za.example.com".into(),
        "gitlab.xn--exmple-cua.com".into(),
        "xn--gitlb-1ta.example.com".into(),
        "gitlab.xn--xample-9ua.com".into(),
        format!("user@{h}"),
        format!("{USERNAME}@{h}"),
        format!("{h}@evil.example"),
        format!("evil.example@{h}"),
        format!("{h}/evil"),
        format!("{h}\\evil"),
        format!("{h}#evil"),
        format!("{h}?evil"),
        format!("{h} "),
        format!(" {h}"),
        format!("*.{h}"),
        format!("{h}\t"),
        h.replace('.', "%2e"),
        h.replace('.', "%2E"),
        h.replace('.', "\u{3002}"),
        "gitlab".into(),
        "example.com".into(),
        String::new(),
    ];
    fixed.extend(IPV6_HOSTS.iter().map(|s| s.to_string()));
    let mut bases = fixed.clone();
    bases.extend([h.to_owned(), h.to_owned(), h.to_owned()]);
    let name = prop_oneof![
        4 => Just(h.to_owned()),
        3 => select(fixed),
        4 => (select(bases), mutation()).prop_map(|(base, m)| mutate(&base, &m)),
        1 => "[a-zA-Z0-9.:@%_\\[\\]-]{0,24}",
        1 => "[^\n\r\\x00]{0,16}",
    ];
    let mask = prop_oneof![Just(Vec::new()), vec(any::<bool>(), 0..24)];
    (name, mask)
        .prop_map(|(name, mask)| flip_case(&name, &mask))
        .boxed()
}

fn port_suffix(served: Served) -> BoxedStrategy<String> {
    let own = format!(":{}", served.port);
    let fixed: Vec<String> = vec![
        format!(":{}", served.default_port()),
        format!(":0{}", served.port),
        format!(":{}", u32::from(served.port) + 65536),
        format!("{own}{own}"),
        format!("{own}/"),
        format!("{own} "),
        format!("{own}@evil.example"),
        format!(":{own}"),
        ":443".into(),
        ":80".into(),
        ":8443".into(),
        ":0".into(),
        ":65536".into(),
        ":99999".into(),
        ":+443".into(),
        ":+8443".into(),
        ":-443".into(),
        ":".into(),
        ":0443".into(),
        ":00443".into(),
        ":000443".into(),
        ": 443".into(),
        ":\u{ff14}\u{ff14}\u{ff13}".into(),
        ":\u{0664}\u{0664}\u{0663}".into(),
        ":0x1bb".into(),
        ":4e2".into(),
    ];
    prop_oneof![
        3 => Just(String::new()),
        3 => Just(own),
        3 => select(fixed),
        1 => any::<u16>().prop_map(|p| format!(":{p}")),
        1 => any::<u32>().prop_map(|p| format!(":{p}")),
    ]
    .boxed()
}

fn schemes(served: Served) -> BoxedStrategy<String> {
    let s = served.scheme;
    prop_oneof![
        4 => Just(s.to_owned()),
        2 => vec(any::<bool>(), 5).prop_map(move |mask| flip_case(s, &mask)),
        3 => select(vec![
            "https", "http", "HTTPS", "HTTP", "ssh", "git", "cert", "", "https ", " https",
            "httpss", "htt", "ftp", "file", "\u{ff48}\u{ff54}\u{ff54}\u{ff50}\u{ff53}",
            "xn--https", "https:", "git+https", "http\u{17f}", "h\u{442}tps", "ws", "wss",
        ])
        .prop_map(String::from),
    ]
    .boxed()
}

fn userinfos() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        6 => Just(""),
        4 => select(vec![
            "gitlab-ci-token@",
            "user@",
            "gitlab-ci-token:pw@",
            "gitlab-ci-token:@",
            "@",
            ":@",
            "evil.example#@",
            "evil.example?@",
            "evil.example/@",
            "evil.example\\@",
            "evil.example:443#@",
            "gitlab-ci-token:443#@",
            "gitlab-ci-token:x?@",
            "gitlab-ci-token#@",
            "gitlab.example.com@",
            "a@b@",
            "gitlab-ci-token:a@b@",
            "gitlab-ci-token%40evil@",
            "%0a@",
            "us%65r@",
            "gitlab-ci-token:%0d@",
        ]),
    ]
}

fn url_tails() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => select(vec!["", "/", "/group/project.git", "/g/p.git/"]),
        3 => select(vec![
            "?x",
            "#frag",
            "#@evil.example/",
            "?@evil.example/",
            "/@evil.example",
            "%0ahost=gitlab.example.com",
            "%0a",
            "%0d",
            "%00",
            "/%0a",
            "/p%0d",
            "/%00",
            "%2f@evil.example",
            "\\@evil.example",
            "%ff",
            "/%ff",
        ]),
    ]
}

/// A line git or an attacker might add around the main attributes.
fn extra_lines(served: Served) -> impl Strategy<Value = Lines> {
    let extra = select(vec![
        line("wwwauth[]", "Basic realm=\"GitLab\""),
        line("capability[]", "authtype"),
        line("Host", served.authority()),
        line("host ", served.authority()),
        line(" host", served.authority()),
        line("protocol", served.scheme),
        line("host", served.authority()),
        line("host", "evil.example"),
        line("url", served.url),
        line("url", "https://evil.example"),
        line("username", USERNAME),
        line("username", "alice"),
        line("path", "group/project.git"),
        line("password", "hunter2"),
        line("quit", "0"),
        line("url", "nonsense"),
    ]);
    vec(extra, 0..2)
}

/// A request aimed at `served`, most of them lookalikes.
fn origin_requests(served: Served) -> impl Strategy<Value = Lines> {
    let host = (host_names(served), port_suffix(served)).prop_map(|(n, p)| n + &p);
    let usernames = select(vec![
        USERNAME,
        USERNAME,
        "Gitlab-ci-token",
        "alice",
        "",
        "gitlab-ci-token ",
    ]);
    let attrs = (
        proptest::option::weighted(0.95, schemes(served)),
        proptest::option::weighted(0.95, host.clone()),
        proptest::option::of(select(vec!["group/project.git", "", "a/b", "%0a"])),
        proptest::option::weighted(0.2, usernames),
    )
        .prop_map(|(protocol, host, path, username)| {
            let mut lines = Vec::new();
            lines.extend(protocol.map(|v| line("protocol", v)));
            lines.extend(host.map(|v| line("host", v)));
            lines.extend(path.map(|v| line("path", v)));
            lines.extend(username.map(|v| line("username", v)));
            lines
        });
    let encode = prop_oneof![
        3 => Just(Vec::new()),
        1 => vec(proptest::bool::weighted(0.15), 0..40),
    ];
    let url = (
        schemes(served),
        userinfos(),
        host,
        encode,
        any::<bool>(),
        url_tails(),
    )
        .prop_map(|(scheme, userinfo, host, mask, upper, tail)| {
            let host = percent_encode(&host, &mask, upper);
            vec![line("url", format!("{scheme}://{userinfo}{host}{tail}"))]
        });
    let main = prop_oneof![3 => attrs, 2 => url];
    (extra_lines(served), main, extra_lines(served))
        .prop_map(|(before, main, after)| [before, main, after].concat())
}

/// Requests for exactly the served origin, spelled in the ways that must still match.
fn equivalent_requests(served: Served) -> impl Strategy<Value = Lines> {
    let s = served;
    let mut ports = vec![format!(":{}", s.port), format!(":0{}", s.port)];
    if s.port == s.default_port() {
        ports.extend([String::new(), String::new()]);
    }
    let names: Vec<String> = if s.host.starts_with('[') {
        ["[::1]", "[0:0:0:0:0:0:0:1]", "[::0:1]", "[0000::0001]"]
            .map(String::from)
            .to_vec()
    } else {
        vec![s.host.to_owned()]
    };
    (
        vec(any::<bool>(), 5),
        select(names),
        vec(any::<bool>(), 0..24),
        select(ports),
        any::<bool>(),
        proptest::option::of(select(vec![USERNAME])),
        proptest::option::of(select(vec!["group/project.git", "p"])),
        prop_oneof![Just(Vec::new()), vec(proptest::bool::weighted(0.2), 0..40)],
    )
        .prop_map(
            move |(scheme_mask, name, name_mask, port, as_url, username, path, enc)| {
                let scheme = flip_case(s.scheme, &scheme_mask);
                let host = flip_case(&name, &name_mask) + &port;
                if as_url {
                    let userinfo = username.map(|u| format!("{u}@")).unwrap_or_default();
                    let host = percent_encode(&host, &enc, true);
                    let path = path.map(|p| format!("/{p}")).unwrap_or_default();
                    vec![line("url", format!("{scheme}://{userinfo}{host}{path}"))]
                } else {
                    let mut lines = vec![line("protocol", scheme), line("host", host)];
                    lines.extend(path.map(|v| line("path", v)));
                    lines.extend(username.map(|v| line("username", v)));
                    lines
                }
            },
        )
}

fn check_origin(served: Served, lines: &Lines) -> Result<(), TestCaseError> {
    check(
        lines,
        &[credential(served.url)],
        expect_origin(lines, &served),
    )
}

fn check_equivalent(served: Served, lines: &Lines) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        expect_origin(lines, &served),
        Expect::Answer,
        "oracle: {:?}",
        shown(lines)
    );
    check(lines, &[credential(served.url)], Expect::Answer)
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn lookalikes_of_the_default_port_origin_are_refused(lines in origin_requests(SERVED_PLAIN)) {
        check_origin(SERVED_PLAIN, &lines)?;
    }

    #[test]
    fn lookalikes_of_an_explicit_port_origin_are_refused(lines in origin_requests(SERVED_PORT)) {
        check_origin(SERVED_PORT, &lines)?;
    }

    #[test]
    fn lookalikes_of_an_ipv6_origin_are_refused(lines in origin_requests(SERVED_IPV6)) {
        check_origin(SERVED_IPV6, &lines)?;
    }

    #[test]
    fn lookalikes_of_an_http_origin_are_refused(lines in origin_requests(SERVED_HTTP)) {
        check_origin(SERVED_HTTP, &lines)?;
    }
}

/// `url=` whose host, as git reads it, ends at a `?` or `#` before an `@` and a served host:
/// `https://evil.example#@gitlab.example.com/` sends git (and curl) to `evil.example`.
fn delimiter_before_at_requests(served: Served) -> impl Strategy<Value = Lines> {
    let before = select(vec![
        "evil.example".to_owned(),
        "evil.example:443".to_owned(),
        format!("{USERNAME}:443"),
        format!("{USERNAME}:x"),
        USERNAME.to_owned(),
        format!("{USERNAME}:pw@evil.example"),
        String::new(),
    ]);
    let junk = prop_oneof![Just(String::new()), "[a-zA-Z0-9.:/_-]{0,12}"];
    (
        schemes(served),
        before,
        select(vec!['#', '?']),
        junk,
        select(vec![
            String::new(),
            format!("{USERNAME}:pw"),
            USERNAME.to_owned(),
        ]),
        select(vec!["", "/", "/group/project.git"]),
        proptest::option::of(Just(line("username", USERNAME))),
    )
        .prop_map(move |(scheme, before, delim, junk, user, tail, username)| {
            let userinfo = if user.is_empty() {
                String::new()
            } else {
                format!("{user}@")
            };
            let url = format!(
                "{scheme}://{before}{delim}{junk}{userinfo}@{}{tail}",
                served.authority()
            );
            let mut lines = vec![line("url", url)];
            lines.extend(username);
            lines
        })
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn a_url_host_ends_at_a_query_or_fragment(
        (served, lines) in prop_oneof![
            delimiter_before_at_requests(SERVED_PLAIN).prop_map(|l| (SERVED_PLAIN, l)),
            delimiter_before_at_requests(SERVED_PORT).prop_map(|l| (SERVED_PORT, l)),
            delimiter_before_at_requests(SERVED_IPV6).prop_map(|l| (SERVED_IPV6, l)),
        ],
    ) {
        check_origin(served, &lines)?;
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn case_and_default_port_variants_are_answered(
        (served, lines) in prop_oneof![
            equivalent_requests(SERVED_PLAIN).prop_map(|l| (SERVED_PLAIN, l)),
            equivalent_requests(SERVED_PORT).prop_map(|l| (SERVED_PORT, l)),
            equivalent_requests(SERVED_IPV6).prop_map(|l| (SERVED_IPV6, l)),
            equivalent_requests(SERVED_HTTP).prop_map(|l| (SERVED_HTTP, l)),
        ],
    ) {
        check_equivalent(served, &lines)?;
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Path scopes.
// ---------------------------------------------------------------------------------------------

const GROUP_SCOPE: &str = "https://h/group";

fn path_requests() -> impl Strategy<Value = Lines> {
    let first = prop_oneof![
        3 => Just("group"),
        3 => select(vec![
            "Group", "GROUP", "gRoup", "group-x", "groupx", "grou", "group.git", "%67roup",
            "gr%6Fup", "group%2F", "group%2fother", "group%2f..%2fother", ".", "..", "", "other",
            "\u{ff47}roup", "gr\u{43e}up", "group\u{200b}", "group ", " group", "group\t",
            "group%00", "group%0a", "%2e%2e", "group;x", "group@x",
        ]),
    ];
    let segment = prop_oneof![
        3 => select(vec![
            "p", "p.git", "sub", "..", ".", "", "%2e%2e", "%2E", ".%2e", "x%2fy", "other",
            "%00", "%0a", "\t", "\u{85}",
        ])
        .prop_map(String::from),
        2 => "[a-zA-Z0-9._-]{1,8}",
        1 => "[^/%\n\r\\x00]{1,6}",
    ];
    (
        first,
        vec(segment, 0..4),
        proptest::bool::weighted(0.1),
        proptest::bool::weighted(0.15),
        any::<bool>(),
    )
        .prop_map(|(first, rest, lead, trail, as_url)| {
            let mut path = String::new();
            if lead {
                path.push('/');
            }
            path.push_str(first);
            for seg in rest {
                path.push('/');
                path.push_str(&seg);
            }
            if trail {
                path.push('/');
            }
            if as_url {
                vec![line("url", format!("https://h/{path}"))]
            } else {
                vec![
                    line("protocol", "https"),
                    line("host", "h"),
                    line("path", path),
                ]
            }
        })
}

fn plain_paths_under_group() -> impl Strategy<Value = Lines> {
    let segment = "[a-zA-Z0-9_\u{e0}-\u{ff}-][a-zA-Z0-9._-]{0,11}";
    (vec(segment, 0..4), any::<bool>(), any::<bool>()).prop_map(|(rest, as_url, user)| {
        let path = std::iter::once("group".to_owned())
            .chain(rest)
            .collect::<Vec<_>>()
            .join("/");
        let mut lines = if as_url {
            vec![line("url", format!("https://h/{path}"))]
        } else {
            vec![
                line("protocol", "https"),
                line("host", "h"),
                line("path", path),
            ]
        };
        if user {
            lines.push(line("username", USERNAME));
        }
        lines
    })
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn a_path_scope_never_answers_outside_its_segments(lines in path_requests()) {
        check(&lines, &[credential(GROUP_SCOPE)], expect_group_path(&lines))?;
    }

    #[test]
    fn a_path_scope_answers_every_plain_path_under_it(lines in plain_paths_under_group()) {
        prop_assert_eq!(expect_group_path(&lines), Expect::Answer, "oracle: {:?}", shown(&lines));
        check(&lines, &[credential(GROUP_SCOPE)], Expect::Answer)?;
    }
}

/// Pinned from `a_url_host_ends_at_a_query_or_fragment`. git 2.47 reads the host of each URL
/// as `evil.example` (`credential_from_url` ends the host at the first `/`, `?` or `#`, and
/// sends helpers `host=evil.example`); the helper ends it at `/` only, takes the last `@`, and
/// answers for `gitlab.example.com`.
#[test]
fn a_url_host_ends_at_a_query_or_fragment_pinned() {
    let creds = [credential("https://gitlab.example.com")];
    for input in [
        "url=https://gitlab-ci-token:pw@evil.example#@gitlab.example.com/\n",
        "url=https://gitlab-ci-token:pw@evil.example?@gitlab.example.com/\n",
        "url=https://evil.example#@gitlab.example.com\nusername=gitlab-ci-token\n",
        "url=https://evil.example?@gitlab.example.com\nusername=gitlab-ci-token\n",
    ] {
        assert!(!answers(input.as_bytes(), &creds), "answered {input:?}");
    }
}
